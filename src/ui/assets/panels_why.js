// aclgate web interface: "Why?" — for an authid and an ACL path, every effective privilege with
// the ACL node, the entries and the role that granted it; for a method and request path, what
// the policy decides and why (aclgate explain). Reads GET /access/aclgate/why only.
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;

  function render(out, a) {
    AG.clear(out);
    const d = a['decided-at'];
    if (a.policy) {
      const p = a.policy;
      out.append(el('h3', { text: `Request: ${p.method} ${p.uri}` }),
        el('div', { class: `why-verdict ${p.allow ? 'allow' : 'deny'}`, id: 'why-verdict' },
          el('b', { text: p.allow ? 'Allowed' : 'Denied' }), ` \u2014 ${p.reason}`),
        el('dl', { class: 'why-dl' },
          el('dt', { text: 'Route' }), el('dd', { class: 'mono', text: p.route ? `${p.route} (${p.source})` : 'none' }),
          el('dt', { text: 'Check' }), el('dd', { class: 'mono', text: p.check || '-' })));
    }
    out.append(el('h3', { text: `Privileges of ${a.authid} on ${a.path}` }));
    if (a.superuser) out.append(el('p', { text: `${a.authid} is the superuser: every privilege, everywhere.` }));
    else if (d) {
      out.append(el('p', {},
        `Decided at ACL node `, el('b', { class: 'mono', text: d.path }),
        ` by the ${d.kind} entries${d.exact ? ' on this very path' : ', inherited (propagated)'}.`));
    } else {
      out.append(el('p', { text: 'No ACL entry applies on this path or above it.' }));
    }
    if (a.entries && a.entries.length) {
      const g = AG.grid({
        label: 'Deciding ACL entries',
        id: (r) => `${r.ugid}|${r.roleid}`,
        columns: [
          { key: 'path', label: 'Path' }, { key: 'ugid', label: 'User/Group/API Token' },
          { key: 'roleid', label: 'Role' }, { key: 'propagate', label: 'Propagate', render: (r) => AG.yesNo(r.propagate) },
        ],
      });
      g.load(a.entries);
      out.append(el('h3', { text: 'Deciding ACL entries' }), g.node);
    }
    const grid = AG.grid({
      label: 'Effective privileges',
      emptyText: 'No privileges',
      id: (r) => r.privilege,
      columns: [
        { key: 'privilege', label: 'Privilege' },
        { key: 'roles', label: 'Granted by role', render: (r) => (r.roles.length ? r.roles.join(', ') : a.superuser ? 'superuser' : 'pool membership') },
        { key: 'propagate', label: 'Propagate', render: (r) => (r.propagate ? 'Yes' : 'No') },
      ],
    });
    grid.load(a.privileges || []);
    out.append(el('h3', { text: 'Effective privileges' }), grid.node);
  }

  AG.register({
    id: 'why',
    title: 'Why?',
    visible: () => true,
    create() {
      const out = el('div', { class: 'why-out', 'aria-live': 'polite' });
      const status = el('div', { class: 'panel-status', role: 'status', hidden: true });
      const field = (id, label, attrs) => el('label', { for: id }, label, el('input', Object.assign({ id, spellcheck: 'false' }, attrs)));
      const method = el('select', { id: 'why-method' }, ['GET', 'POST', 'PUT', 'DELETE'].map((m) => el('option', { value: m, text: m })));
      const go = el('button', { class: 'btn primary', type: 'submit', text: 'Explain' });
      const form = el('form', { class: 'why-form', novalidate: true },
        field('why-authid', 'User or API token', { value: AG.session.user, placeholder: 'user@realm or user@realm!token', required: true }),
        field('why-path', 'ACL path', { value: '/', placeholder: '/vms/100' }),
        el('label', { for: 'why-method' }, 'Method', method),
        field('why-uri', 'Request path (optional)', { placeholder: '/nodes/n1/qemu/100/status/current' }),
        go);
      const node = el('section', { class: 'panel', 'aria-label': 'Why?' },
        el('h2', { class: 'panel-title', text: 'Why? \u2014 effective permissions explained' }), form, status, out);
      const run = async () => {
        const params = { authid: form.querySelector('#why-authid').value.trim(), path: form.querySelector('#why-path').value.trim() || '/' };
        const uri = form.querySelector('#why-uri').value.trim();
        if (uri) { params.uri = uri; params.method = method.value; }
        try {
          render(out, await AG.api('GET', '/access/aclgate/why', params));
          status.hidden = true;
        } catch (e) {
          AG.clear(out);
          status.textContent = e.text || String(e);
          status.hidden = false;
        }
      };
      form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
      return { node, reload: run };
    },
  });
})();
