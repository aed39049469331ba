// aclgate web interface: widgets shaped like Proxmox's toolkit — modal edit windows with
// validated, labelled fields; grids with keyboard selection; toolbars whose buttons follow the
// selection; alert and confirm boxes.
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;

  // --- message boxes -----------------------------------------------------------------------

  AG.alert = function (title, text) {
    return new Promise((resolve) => {
      const ok = el('button', { class: 'btn primary', type: 'button', text: 'OK' });
      const dlg = el('dialog', { class: 'window msg', 'aria-label': title },
        el('div', { class: 'win-title' }, title),
        el('div', { class: 'win-body' }, el('p', { class: 'msg-text', role: 'alert' }, text)),
        el('div', { class: 'win-buttons' }, ok));
      ok.addEventListener('click', () => dlg.close());
      dlg.addEventListener('close', () => { dlg.remove(); resolve(); });
      document.body.append(dlg);
      dlg.showModal();
      ok.focus();
    });
  };

  AG.error = (e) => AG.alert('Error', e instanceof AG.ApiError ? e.text : String(e.message || e));

  // Resolves true for Yes. `dangerous` makes No the default, as Proxmox does.
  AG.confirm = function (title, text, dangerous) {
    return new Promise((resolve) => {
      const yes = el('button', { class: dangerous ? 'btn danger' : 'btn primary', type: 'button', text: 'Yes' });
      const no = el('button', { class: 'btn', type: 'button', text: 'No' });
      const dlg = el('dialog', { class: 'window msg', 'aria-label': title },
        el('div', { class: 'win-title' }, title),
        el('div', { class: 'win-body' },
          el('p', { class: dangerous ? 'msg-text warn' : 'msg-text' }, text)),
        el('div', { class: 'win-buttons' }, yes, no));
      let answer = false;
      yes.addEventListener('click', () => { answer = true; dlg.close(); });
      no.addEventListener('click', () => dlg.close());
      dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
      document.body.append(dlg);
      dlg.showModal();
      (dangerous ? no : yes).focus();
    });
  };

  // --- edit window -------------------------------------------------------------------------

  function makeInput(f, id) {
    let input;
    switch (f.type) {
      case 'checkbox':
        input = el('input', { type: 'checkbox', id, name: f.name, checked: f.value !== undefined ? !!Number(f.value) || f.value === true : f.checked });
        break;
      case 'select':
      case 'multi':
        input = el('select', { id, name: f.name, multiple: f.type === 'multi', size: f.type === 'multi' ? (f.size || 8) : undefined });
        for (const o of f.options || []) {
          const [v, label] = Array.isArray(o) ? o : [o, o];
          const sel = f.type === 'multi' ? (f.value || []).includes(v) : String(f.value ?? '') === String(v);
          input.append(el('option', { value: v, selected: sel, text: label }));
        }
        break;
      case 'textarea':
        input = el('textarea', { id, name: f.name, rows: f.rows || 3, readonly: f.readonly, value: f.value ?? '' });
        break;
      case 'display':
        input = el('output', { id, name: f.name, class: 'display', text: f.value ?? '' });
        break;
      default:
        input = el('input', {
          type: f.type || 'text', id, name: f.name, value: f.value ?? '', readonly: f.readonly,
          placeholder: f.placeholder, autocomplete: f.autocomplete || 'off', spellcheck: 'false',
          inputmode: f.inputmode, maxlength: f.maxLength,
        });
    }
    if (f.required) input.setAttribute('aria-required', 'true');
    return input;
  }

  function readValue(f, input) {
    if (f.type === 'checkbox') return input.checked ? 1 : 0;
    if (f.type === 'multi') return Array.from(input.selectedOptions).map((o) => o.value);
    if (f.type === 'display') return input.textContent;
    return input.value;
  }

  function fieldError(f, v) {
    const empty = v === '' || (Array.isArray(v) && v.length === 0);
    if (f.required && empty) return 'This field is required';
    if (empty) return null;
    if (f.minLength && String(v).length < f.minLength) return `Minimum length for this field is ${f.minLength}`;
    if (f.pattern && !f.pattern.test(String(v))) return f.patternText || 'Invalid value';
    return null;
  }

  // AG.window({title, fields, submitText, onSubmit(values, win), width, validate(values)}).
  // onSubmit may throw: the error is shown in the window, which stays open.
  AG.window = function (cfg) {
    const formId = AG.uid('form');
    const form = el('form', { class: 'win-form', id: formId, novalidate: true });
    const fields = {};
    const errBox = el('div', { class: 'win-error', role: 'alert', hidden: true });
    for (const f of cfg.fields) {
      if (f.type === 'html') { form.append(f.node); fields[f.name] = { f, row: f.node }; continue; }
      const id = AG.uid('f');
      const input = makeInput(f, id);
      const hint = el('div', { class: 'field-hint', id: `${id}-hint`, hidden: true });
      input.setAttribute('aria-describedby', `${id}-hint`);
      const row = el('div', { class: `field${f.type === 'checkbox' ? ' check' : ''}`, hidden: f.hidden },
        el('label', { for: id, text: f.label }),
        el('div', { class: 'field-input' }, input, f.extra || null, hint));
      fields[f.name] = { f, input, row, hint };
      form.append(row);
    }
    const submit = el('button', { class: 'btn primary', type: 'submit', text: cfg.submitText || 'OK' });
    const cancel = el('button', { class: 'btn', type: 'button', text: 'Cancel' });
    const dlg = el('dialog', { class: 'window', 'aria-label': cfg.title, style: null },
      el('div', { class: 'win-title' }, cfg.title),
      el('div', { class: 'win-body' }, cfg.intro || null, form, errBox),
      el('div', { class: 'win-buttons' }, cfg.noCancel ? null : cancel, submit));
    if (cfg.wide) dlg.classList.add('wide');
    submit.setAttribute('form', formId);

    const win = {
      dlg,
      fields,
      values() {
        const out = {};
        for (const [name, { f, input }] of Object.entries(fields)) {
          if (!input || f.submit === false || (f.hidden && !f.sendHidden) || f.type === 'display') continue;
          out[name] = readValue(f, input);
        }
        return out;
      },
      value(name) { const x = fields[name]; return x && x.input ? readValue(x.f, x.input) : undefined; },
      set(name, v) { const x = fields[name]; if (x && x.input) { if (x.f.type === 'display') x.input.textContent = v; else x.input.value = v; } },
      show(name, on) { const x = fields[name]; if (x) { x.row.hidden = !on; x.f.hidden = !on; } win.validate(); },
      error(text) { errBox.textContent = text || ''; errBox.hidden = !text; },
      close() { dlg.close(); },
      validate() {
        let ok = true;
        for (const { f, input, hint } of Object.values(fields)) {
          if (!input || f.hidden) continue;
          const msg = fieldError(f, readValue(f, input)) || (f.validate && f.validate(readValue(f, input), win));
          const show = msg && input.dataset.touched;
          hint.textContent = show ? msg : '';
          hint.hidden = !show;
          input.setAttribute('aria-invalid', msg ? 'true' : 'false');
          if (msg) ok = false;
        }
        if (ok && cfg.validate) ok = !cfg.validate(win.values(), win);
        submit.disabled = !ok || win.busy;
        return ok;
      },
      busy: false,
    };
    for (const { f, input } of Object.values(fields)) {
      if (!input) continue;
      const ev = () => { input.dataset.touched = '1'; if (f.onchange) f.onchange(readValue(f, input), win); win.validate(); };
      input.addEventListener('input', ev);
      input.addEventListener('change', ev);
    }
    form.addEventListener('submit', (e) => { e.preventDefault(); doSubmit(); });
    cancel.addEventListener('click', () => dlg.close());
    if (cfg.noEscape) dlg.addEventListener('cancel', (e) => e.preventDefault());
    dlg.addEventListener('close', () => { dlg.remove(); if (cfg.onClose) cfg.onClose(); });

    async function doSubmit() {
      for (const { input } of Object.values(fields)) if (input) input.dataset.touched = '1';
      if (!win.validate()) return;
      win.busy = true;
      submit.disabled = true;
      win.error('');
      try {
        const keep = await cfg.onSubmit(win.values(), win);
        if (keep !== false) dlg.close();
      } catch (e) {
        win.error(e instanceof AG.ApiError ? e.text : String(e.message || e));
      } finally {
        win.busy = false;
        win.validate();
      }
    }

    document.body.append(dlg);
    dlg.showModal();
    win.validate();
    const first = Object.values(fields).find((x) => x.input && !x.f.hidden && !x.input.readOnly && x.f.type !== 'display');
    if (first) first.input.focus();
    if (cfg.onShow) cfg.onShow(win);
    return win;
  };

  // --- grid --------------------------------------------------------------------------------

  // AG.grid({columns: [{key, label, render(row), width}], id(row), onSelect(row), onActivate(row)})
  AG.grid = function (cfg) {
    const thead = el('thead', {}, el('tr', {}, cfg.columns.map((c) =>
      el('th', { scope: 'col', class: c.cls, style: null, text: c.label }))));
    const tbody = el('tbody');
    const table = el('table', { class: 'grid', 'aria-label': cfg.label || '' }, thead, tbody);
    const wrap = el('div', { class: 'grid-wrap', tabindex: 0, role: 'region', 'aria-label': cfg.label || '' }, table);
    const empty = el('div', { class: 'grid-empty', text: cfg.emptyText || 'No items' });
    wrap.append(empty);
    let rows = [];
    let selected = null;

    function select(id, focus) {
      selected = id;
      for (const tr of tbody.children) {
        const on = tr.dataset.id === id;
        tr.classList.toggle('selected', on);
        tr.setAttribute('aria-selected', on ? 'true' : 'false');
        if (on && focus) tr.focus();
      }
      if (cfg.onSelect) cfg.onSelect(grid.selected());
    }

    const grid = {
      node: wrap,
      load(list) {
        rows = list;
        AG.clear(tbody);
        for (const r of list) {
          const id = String(cfg.id(r));
          const tr = el('tr', { 'data-id': id, tabindex: -1, 'aria-selected': 'false' },
            cfg.columns.map((c) => {
              const v = c.render ? c.render(r) : r[c.key];
              return el('td', { class: c.cls }, v instanceof Node ? v : (v === undefined || v === null ? '' : String(v)));
            }));
          tr.addEventListener('click', () => select(id));
          tr.addEventListener('dblclick', () => { select(id); if (cfg.onActivate) cfg.onActivate(grid.selected()); });
          tbody.append(tr);
        }
        empty.hidden = list.length > 0;
        if (selected !== null && !list.some((r) => String(cfg.id(r)) === selected)) selected = null;
        select(selected);
      },
      selected() { return rows.find((r) => String(cfg.id(r)) === selected) || null; },
      select(id) { select(String(id)); },
      rows() { return rows; },
    };

    wrap.addEventListener('keydown', (e) => {
      if (!rows.length) return;
      const ids = rows.map((r) => String(cfg.id(r)));
      const at = ids.indexOf(selected);
      if (e.key === 'ArrowDown') { select(ids[Math.min(at + 1, ids.length - 1)], true); e.preventDefault(); }
      else if (e.key === 'ArrowUp') { select(ids[Math.max(at - 1, 0)], true); e.preventDefault(); }
      else if (e.key === 'Enter' && selected !== null && cfg.onActivate) { cfg.onActivate(grid.selected()); e.preventDefault(); }
    });
    return grid;
  };

  // --- toolbar -----------------------------------------------------------------------------

  // Buttons: {text, handler(row), selection: bool, enabled(row) → bool, menu: [{text, handler}]}.
  // `update(row)` re-evaluates every button for the selected row.
  AG.toolbar = function (buttons) {
    const bar = el('div', { class: 'toolbar', role: 'toolbar' });
    const items = [];
    for (const b of buttons) {
      if (b === '-') { bar.append(el('span', { class: 'tb-sep' })); continue; }
      const btn = el('button', { class: 'btn tb', type: 'button', text: b.text, 'data-action': b.id || b.text });
      let current = null;
      if (b.menu) {
        const menu = el('div', { class: 'menu', role: 'menu', hidden: true });
        btn.setAttribute('aria-haspopup', 'menu');
        btn.setAttribute('aria-expanded', 'false');
        for (const m of b.menu) {
          const mi = el('button', { class: 'menu-item', type: 'button', role: 'menuitem', text: m.text });
          mi.addEventListener('click', () => { hide(); m.handler(current); });
          menu.append(mi);
        }
        const hide = () => { menu.hidden = true; btn.setAttribute('aria-expanded', 'false'); };
        btn.addEventListener('click', () => {
          menu.hidden = !menu.hidden;
          btn.setAttribute('aria-expanded', String(!menu.hidden));
          if (!menu.hidden) menu.firstChild.focus();
        });
        menu.addEventListener('keydown', (e) => {
          const list = Array.from(menu.children);
          const at = list.indexOf(document.activeElement);
          if (e.key === 'Escape') { hide(); btn.focus(); }
          else if (e.key === 'ArrowDown') { list[(at + 1) % list.length].focus(); e.preventDefault(); }
          else if (e.key === 'ArrowUp') { list[(at - 1 + list.length) % list.length].focus(); e.preventDefault(); }
        });
        document.addEventListener('click', (e) => { if (!bar.contains(e.target)) hide(); });
        bar.append(el('span', { class: 'tb-menu' }, btn, menu));
      } else {
        btn.addEventListener('click', () => b.handler(current));
        bar.append(btn);
      }
      items.push({ b, btn, set(row) { current = row; } });
    }
    return {
      node: bar,
      update(row) {
        for (const it of items) {
          it.set(row);
          let on = !(it.b.selection && !row);
          if (on && it.b.enabled) on = !!it.b.enabled(row);
          it.btn.disabled = !on;
          if (it.b.why && !on) it.btn.title = it.b.why; else it.btn.removeAttribute('title');
        }
      },
    };
  };

  // --- a panel: title, toolbar, grid -----------------------------------------------------------

  // AG.gridPanel({title, columns, id, load: async () → rows, buttons, onActivate, label})
  AG.gridPanel = function (cfg) {
    const status = el('div', { class: 'panel-status', role: 'status' });
    const tb = AG.toolbar(cfg.buttons || []);
    const grid = AG.grid({
      columns: cfg.columns,
      id: cfg.id,
      label: cfg.title,
      emptyText: cfg.emptyText,
      onSelect: (row) => tb.update(row),
      onActivate: cfg.onActivate,
    });
    const node = el('section', { class: 'panel', 'aria-label': cfg.title },
      el('h2', { class: 'panel-title', text: cfg.title }), tb.node, status, grid.node);
    const panel = {
      node,
      grid,
      async reload() {
        try {
          grid.load(await cfg.load());
          status.textContent = '';
          status.hidden = true;
        } catch (e) {
          grid.load([]);
          status.textContent = e instanceof AG.ApiError ? e.text : String(e.message || e);
          status.hidden = false;
        }
        tb.update(grid.selected());
      },
    };
    tb.update(null);
    return panel;
  };

  // Run an API change from a toolbar: errors become the Error alert, then the panel reloads.
  AG.act = async function (panel, fn) {
    try { await fn(); } catch (e) { await AG.error(e); }
    if (panel) await panel.reload();
  };
})();
