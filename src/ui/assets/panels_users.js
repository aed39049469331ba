// aclgate web interface: Datacenter → Users (add, edit, remove, password, unlock TFA, effective
// permissions), the password window and the "Granted Permissions" window (also used by tokens).
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;
  const PASSWORD_REALMS = ['pam', 'pve', 'ldap', 'ad'];

  function tfaText(u) {
    const keys = u.keys || '';
    if (!keys) return 'No';
    if (keys.startsWith('x!')) return keys === 'x!oath' ? 'totp' : keys.slice(2);
    const until = Number(u['tfa-locked-until'] || 0);
    if (until * 1000 > Date.now()) return 'Locked';
    if (u['totp-locked']) return 'TOTP Locked';
    return 'Yes';
  }

  function dateToEpoch(s) {
    if (!s) return 0;
    const t = Date.parse(`${s}T00:00:00Z`);
    return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
  }

  async function userWindow(panel, user) {
    const realms = await AG.api('GET', '/access/domains', null, { login: true });
    const groups = await AG.groupOptions().catch(() => []);
    const isAdd = !user;
    const data = user ? await AG.api('GET', `/access/users/${encodeURIComponent(user.userid)}`) : {};
    const defRealm = (realms.find((r) => r.default) || realms.find((r) => r.realm === 'pam') || realms[0] || {}).realm;
    const [name, realm] = user ? AG.splitUserid(user.userid) : ['', defRealm];
    const isPve = (r) => r === 'pve';
    const win = AG.window({
      title: isAdd ? 'Add: User' : 'Edit: User',
      submitText: isAdd ? 'Add' : 'OK',
      wide: true,
      fields: [
        { name: 'name', label: 'User name', required: true, value: name, readonly: !isAdd, submit: false, pattern: /^[^\s:/]+$/, patternText: 'No spaces, colons or slashes' },
        { name: 'realm', label: 'Realm', type: 'select', value: realm, hidden: !isAdd, submit: false, options: realms.map((r) => [r.realm, r.comment || r.realm]), onchange: (v, w) => { w.show('password', isPve(v)); w.show('confirm', isPve(v)); } },
        { name: 'password', label: 'Password', type: 'password', hidden: !isAdd || !isPve(realm), minLength: 8, autocomplete: 'new-password' },
        { name: 'confirm', label: 'Confirm password', type: 'password', hidden: !isAdd || !isPve(realm), submit: false, autocomplete: 'new-password', validate: (v, w) => (v !== w.value('password') ? 'Passwords do not match' : null) },
        { name: 'groups', label: 'Group', type: 'multi', size: 4, options: groups, value: data.groups || [] },
        { name: 'expire', label: 'Expire', type: 'date', value: data.expire ? AG.fmtDate(data.expire) : '' },
        { name: 'enable', label: 'Enabled', type: 'checkbox', value: data.enable === undefined ? 1 : data.enable },
        { name: 'firstname', label: 'First Name', value: data.firstname },
        { name: 'lastname', label: 'Last Name', value: data.lastname },
        { name: 'email', label: 'E-Mail', type: 'email', value: data.email, pattern: /^[^\s@]+@[^\s@]+$/, patternText: 'Example: user@example.com' },
        { name: 'comment', label: 'Comment', value: data.comment },
        { name: 'keys', label: 'Key IDs', value: data.keys && !/^x(!|$)/.test(data.keys) ? data.keys : '', hidden: !isAdd && /^x(!|$)/.test(data.keys || '') },
      ],
      async onSubmit(v, w) {
        const body = Object.assign({}, v, { groups: v.groups.join(','), expire: dateToEpoch(v.expire) });
        if (!body.password) delete body.password;
        if (!body.keys) delete body.keys;
        if (isAdd) {
          body.userid = `${w.value('name')}@${w.value('realm')}`;
          await AG.api('POST', '/access/users', body);
        } else {
          await AG.api('PUT', `/access/users/${encodeURIComponent(user.userid)}`, body);
        }
        panel.reload();
      },
    });
    return win;
  }

  // The password window for `userid` (one's own, or another's for an admin).
  AG.passwordWindow = function (userid, done) {
    const self = userid === AG.session.user;
    const root = AG.session.user === 'root@pam';
    AG.window({
      title: 'Edit: Password',
      submitText: 'OK',
      intro: userid.endsWith('@pam') ? el('p', { class: 'hint', text: 'For the PAM realm, aclgate cannot change the password.' }) : null,
      fields: [
        { name: 'userid', label: 'User', type: 'display', value: userid },
        { name: 'confirmation-password', label: 'Your Current Password', type: 'password', required: !root, hidden: root, autocomplete: 'current-password' },
        { name: 'password', label: 'New Password', type: 'password', required: true, minLength: 8, autocomplete: 'new-password' },
        { name: 'confirm', label: 'Confirm New Password', type: 'password', required: true, submit: false, autocomplete: 'new-password', validate: (v, w) => (v !== w.value('password') ? 'Passwords do not match' : null) },
      ],
      async onSubmit(v) {
        await AG.api('PUT', '/access/password', Object.assign({ userid }, v));
        if (done) done(self);
      },
    });
  };

  // "<authid> - Granted Permissions": path → privilege (propagate), from GET /access/permissions.
  AG.permissionsWindow = async function (authid) {
    const grid = AG.grid({
      label: 'Granted Permissions',
      id: (r) => r.id,
      columns: [
        { key: 'path', label: 'Path/Permission', render: (r) => (r.priv ? el('span', { class: 'perm-leaf' }, `\u00a0\u00a0\u00a0\u00a0${r.priv}`) : el('b', {}, r.path)) },
        { key: 'propagate', label: 'Propagate', render: (r) => (r.priv ? (r.propagate ? 'Yes' : 'No') : '') },
      ],
    });
    const dlg = el('dialog', { class: 'window wide', 'aria-label': `${authid} - Granted Permissions` },
      el('div', { class: 'win-title', text: `${authid} - Granted Permissions` }),
      el('div', { class: 'win-body perm-body' }, grid.node),
      el('div', { class: 'win-buttons' }, el('button', { class: 'btn', type: 'button', text: 'Close', onclick: () => dlg.close() })));
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    try {
      const data = await AG.api('GET', '/access/permissions', { userid: authid });
      const rows = [];
      for (const path of Object.keys(data).sort()) {
        rows.push({ id: path, path });
        for (const priv of Object.keys(data[path]).sort()) rows.push({ id: `${path}|${priv}`, path, priv, propagate: data[path][priv] });
      }
      grid.load(rows);
    } catch (e) {
      grid.node.append(el('div', { class: 'panel-status', text: e.text || String(e) }));
    }
  };

  AG.register({
    id: 'users',
    title: 'Users',
    visible: () => true,
    create() {
      const admin = () => AG.session.can('access', 'User.Modify');
      const panel = AG.gridPanel({
        title: 'Users',
        id: (r) => r.userid,
        load: () => AG.api('GET', '/access/users', { full: 1 }),
        onActivate: (r) => { if (admin()) userWindow(panel, r).catch(AG.error); },
        columns: [
          { key: 'userid', label: 'User name', render: (r) => AG.splitUserid(r.userid)[0] },
          { key: 'realm', label: 'Realm', render: (r) => AG.splitUserid(r.userid)[1] },
          { key: 'enable', label: 'Enabled', render: (r) => AG.yesNo(r.enable) },
          { key: 'expire', label: 'Expire', render: (r) => AG.fmtDate(r.expire) },
          { key: 'name', label: 'Name', render: (r) => [r.firstname, r.lastname].filter(Boolean).join(' ') },
          { key: 'tfa', label: 'TFA', render: tfaText },
          { key: 'groups', label: 'Groups', cls: 'wrap', render: (r) => (Array.isArray(r.groups) ? r.groups.join(',') : r.groups || '') },
          { key: 'comment', label: 'Comment', cls: 'wrap' },
        ],
        buttons: [
          { text: 'Add', id: 'user-add', enabled: admin, why: 'needs User.Modify', handler: () => userWindow(panel).catch(AG.error) },
          { text: 'Edit', id: 'user-edit', selection: true, enabled: admin, why: 'needs User.Modify', handler: (r) => userWindow(panel, r).catch(AG.error) },
          {
            text: 'Remove', id: 'user-remove', selection: true, enabled: (r) => admin() && r.userid !== 'root@pam',
            handler: async (r) => {
              if (!(await AG.confirm('Confirm', `Are you sure you want to remove entry '${r.userid}'`, true))) return;
              await AG.act(panel, () => AG.api('DELETE', `/access/users/${encodeURIComponent(r.userid)}`));
            },
          },
          '-',
          {
            text: 'Password', id: 'user-password', selection: true,
            enabled: (r) => PASSWORD_REALMS.includes(r['realm-type'] || AG.splitUserid(r.userid)[1]),
            handler: (r) => AG.passwordWindow(r.userid, () => panel.reload()),
          },
          { text: 'Permissions', id: 'user-permissions', selection: true, handler: (r) => AG.permissionsWindow(r.userid) },
          {
            text: 'Unlock TFA', id: 'user-unlock', selection: true,
            enabled: (r) => admin() && (r['totp-locked'] || r['tfa-locked-until']),
            handler: async (r) => {
              const ok = await AG.confirm('Unlock TFA authentication', `Unlock TFA authentication for ${r.userid}\n\nLocked 2nd factors can happen if the user's password was leaked. Are you sure you want to unlock the user?`, true);
              if (ok) await AG.act(panel, () => AG.api('PUT', `/access/users/${encodeURIComponent(r.userid)}/unlock-tfa`));
            },
          },
        ],
      });
      return panel;
    },
  });
})();
