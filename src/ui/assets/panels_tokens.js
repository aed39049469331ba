// aclgate web interface: Datacenter → API Tokens (add with privilege separation, expiry,
// comment, allowed IPs and rate limit; edit; regenerate with an overlap; remove; permissions)
// and the "Token Secret" window that shows a secret once.
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;

  function dateToEpoch(s) {
    if (!s) return 0;
    const t = Date.parse(`${s}T00:00:00Z`);
    return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
  }

  // The secret, shown once, with the header a client sends (Proxmox shows only the secret).
  AG.secretWindow = function (tokenid, secret) {
    const header = `PVEAPIToken=${tokenid}=${secret}`;
    const copied = el('span', { class: 'hint', role: 'status' });
    const copy = (text) => async () => {
      try {
        await navigator.clipboard.writeText(text);
        copied.textContent = 'Copied.';
      } catch (_) {
        copied.textContent = 'The browser refused the clipboard: select the text and copy it.';
      }
    };
    const secretField = el('input', { id: 'token-secret', class: 'secret-value', readonly: true, value: secret });
    const headerField = el('input', { id: 'token-header', class: 'secret-value', readonly: true, value: header });
    secretField.addEventListener('focus', () => secretField.select());
    headerField.addEventListener('focus', () => headerField.select());
    const close = el('button', { class: 'btn primary', type: 'button', text: 'Close' });
    const dlg = el('dialog', { class: 'window wide', 'aria-label': 'Token Secret' },
      el('div', { class: 'win-title', text: 'Token Secret' }),
      el('div', { class: 'win-body' },
        el('div', { class: 'field' }, el('label', { for: 'token-id', text: 'Token ID' }),
          el('div', { class: 'field-input' }, el('input', { id: 'token-id', readonly: true, value: tokenid }))),
        el('div', { class: 'field' }, el('label', { for: 'token-secret', text: 'Secret' }),
          el('div', { class: 'field-input' }, secretField)),
        el('div', { class: 'field' }, el('label', { for: 'token-header', text: 'Authorization header' }),
          el('div', { class: 'field-input' }, headerField)),
        el('div', { class: 'warning-box', role: 'note', text: 'Please record the API token secret - it will only be displayed now' }),
        copied),
      el('div', { class: 'win-buttons' },
        el('button', { class: 'btn', type: 'button', text: 'Copy Secret Value', onclick: copy(secret) }),
        el('button', { class: 'btn', type: 'button', text: 'Copy Header', onclick: copy(header) }),
        close));
    close.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    secretField.focus();
  };

  function tokenPath(r) {
    return `/access/users/${encodeURIComponent(r.userid)}/token/${encodeURIComponent(r.tokenid)}`;
  }

  async function tokenWindow(panel, row) {
    const isAdd = !row;
    const users = isAdd ? await AG.userOptions().catch(() => [AG.session.user]) : [];
    const data = row ? await AG.api('GET', tokenPath(row)) : {};
    AG.window({
      title: isAdd ? 'Add: Token' : 'Edit: Token',
      submitText: isAdd ? 'Add' : 'OK',
      wide: true,
      fields: [
        isAdd
          ? { name: 'userid', label: 'User', type: 'select', required: true, options: users, value: AG.session.user, submit: false }
          : { name: 'userid', label: 'User', type: 'display', value: row.userid },
        { name: 'tokenid', label: 'Token ID', required: true, minLength: 2, value: row ? row.tokenid : '', readonly: !isAdd, submit: false, pattern: /^[A-Za-z][A-Za-z0-9._-]+$/, patternText: 'Letters, digits, . _ - (starting with a letter)' },
        { name: 'privsep', label: 'Privilege Separation', type: 'checkbox', value: data.privsep === undefined ? 1 : data.privsep },
        { name: 'expire', label: 'Expire', type: 'date', value: data.expire ? AG.fmtDate(data.expire) : '' },
        { name: 'comment', label: 'Comment', value: data.comment },
        { name: 'allowed-ips', label: 'Allowed IPs', value: data['allowed-ips'] || '', placeholder: 'any (e.g. 10.0.0.0/8, 2001:db8::/32)' },
        { name: 'rate-limit', label: 'Rate limit (req/s)', type: 'number', value: data['rate-limit'] || '', placeholder: 'unlimited' },
        { name: 'rate-burst', label: 'Burst', type: 'number', value: data['rate-burst'] || '', placeholder: 'same as the rate limit' },
      ],
      async onSubmit(v, w) {
        const body = { privsep: v.privsep, expire: dateToEpoch(v.expire), comment: v.comment };
        const del = [];
        for (const k of ['allowed-ips', 'rate-limit', 'rate-burst']) {
          if (v[k] !== '') body[k] = v[k];
          else if (!isAdd && data[k] !== undefined) del.push(k);
        }
        if (del.length) body.delete = del.join(',');
        if (isAdd) {
          const userid = w.value('userid');
          const tokenid = w.value('tokenid');
          const answer = await AG.api('POST', tokenPath({ userid, tokenid }), body);
          panel.reload();
          if (answer && answer.value) AG.secretWindow(answer['full-tokenid'] || `${userid}!${tokenid}`, answer.value);
        } else {
          await AG.api('PUT', tokenPath(row), body);
          panel.reload();
        }
      },
    });
  }

  function regenerate(panel, r) {
    AG.window({
      title: 'Regenerate Secret',
      submitText: 'Regenerate',
      intro: el('p', { class: 'msg-text warn', text: `Regenerate the secret of the API token '${r.id}'? All users of the previous token secret will lose access!` }),
      fields: [
        { name: 'overlap', label: 'Old secret valid for (s)', type: 'number', value: '0', pattern: /^\d+$/, patternText: 'Seconds, 0 to 2592000' },
      ],
      async onSubmit(v) {
        const body = { regenerate: 1 };
        if (Number(v.overlap) > 0) body.overlap = v.overlap;
        const answer = await AG.api('PUT', tokenPath(r), body);
        panel.reload();
        if (answer && answer.value) AG.secretWindow(answer['full-tokenid'] || r.id, answer.value);
      },
    });
  }

  AG.register({
    id: 'tokens',
    title: 'API Tokens',
    visible: () => true,
    create() {
      const owner = (r) => r.userid === AG.session.user || AG.session.can('access', 'User.Modify');
      const panel = AG.gridPanel({
        title: 'API Tokens',
        id: (r) => r.id,
        emptyText: 'No API tokens',
        load: async () => {
          const users = await AG.api('GET', '/access/users', { full: 1 });
          const rows = [];
          for (const u of users) {
            for (const t of u.tokens || []) rows.push(Object.assign({}, t, { id: `${u.userid}!${t.tokenid}`, userid: u.userid }));
          }
          return rows.sort((a, b) => a.id.localeCompare(b.id));
        },
        onActivate: (r) => { if (owner(r)) tokenWindow(panel, r).catch(AG.error); },
        columns: [
          { key: 'userid', label: 'User name', render: (r) => { const [n, realm] = AG.splitUserid(r.userid); return el('span', {}, n, el('span', { class: 'realm-tag', text: `@${realm}` })); } },
          { key: 'tokenid', label: 'Token Name' },
          { key: 'expire', label: 'Expire', render: (r) => AG.fmtDate(r.expire) },
          { key: 'comment', label: 'Comment', cls: 'wrap' },
          { key: 'privsep', label: 'Privilege Separation', render: (r) => AG.yesNo(r.privsep) },
        ],
        buttons: [
          { text: 'Add', id: 'token-add', handler: () => tokenWindow(panel).catch(AG.error) },
          { text: 'Edit', id: 'token-edit', selection: true, enabled: owner, handler: (r) => tokenWindow(panel, r).catch(AG.error) },
          {
            text: 'Remove', id: 'token-remove', selection: true, enabled: owner,
            handler: async (r) => {
              if (!(await AG.confirm('Confirm', `Are you sure you want to remove entry '${r.id}'`))) return;
              await AG.act(panel, () => AG.api('DELETE', tokenPath(r)));
            },
          },
          { text: 'Regenerate Secret', id: 'token-regenerate', selection: true, enabled: owner, handler: (r) => regenerate(panel, r) },
          '-',
          { text: 'Show Permissions', id: 'token-permissions', selection: true, handler: (r) => AG.permissionsWindow(r.id) },
        ],
      });
      return panel;
    },
  });
})();
