// aclgate web interface: Datacenter → Groups, Pools, Roles (create with a privilege
// multi-select; built-ins read-only) and Realms (list, add/edit, sync), as Proxmox's panels.
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;
  const audit = () => AG.session.can('dc', 'Sys.Audit');

  function removeButton(getPanel, id, label, url) {
    return {
      text: 'Remove', id, selection: true,
      handler: async (r) => {
        if (!(await AG.confirm('Confirm', `Are you sure you want to remove entry '${label(r)}'`))) return;
        await AG.act(getPanel(), () => AG.api('DELETE', url(r)));
      },
    };
  }

  // --- Groups --------------------------------------------------------------------------------

  function groupWindow(panel, row) {
    AG.window({
      title: row ? 'Edit: Group' : 'Create: Group',
      submitText: row ? 'OK' : 'Create',
      fields: [
        { name: 'groupid', label: 'Name', required: true, value: row ? row.groupid : '', readonly: !!row, pattern: /^[A-Za-z0-9._-]+$/, patternText: 'Letters, digits, . _ -' },
        { name: 'comment', label: 'Comment', value: row ? row.comment : '' },
      ],
      async onSubmit(v) {
        if (row) await AG.api('PUT', `/access/groups/${encodeURIComponent(row.groupid)}`, { comment: v.comment });
        else await AG.api('POST', '/access/groups', v);
        panel.reload();
      },
    });
  }

  AG.register({
    id: 'groups',
    title: 'Groups',
    visible: audit,
    create() {
      const panel = AG.gridPanel({
        title: 'Groups',
        id: (r) => r.groupid,
        load: () => AG.api('GET', '/access/groups'),
        onActivate: (r) => groupWindow(panel, r),
        columns: [
          { key: 'groupid', label: 'Name' },
          { key: 'comment', label: 'Comment', cls: 'wrap' },
          { key: 'users', label: 'Users', cls: 'wrap' },
        ],
        buttons: [
          { text: 'Create', id: 'group-create', handler: () => groupWindow(panel) },
          { text: 'Edit', id: 'group-edit', selection: true, handler: (r) => groupWindow(panel, r) },
          removeButton(() => panel, 'group-remove', (r) => r.groupid, (r) => `/access/groups/${encodeURIComponent(r.groupid)}`),
        ],
      });
      return panel;
    },
  });

  // --- Pools ---------------------------------------------------------------------------------

  function poolWindow(panel, row) {
    AG.window({
      title: row ? 'Edit: Pool' : 'Create: Pool',
      submitText: row ? 'OK' : 'Create',
      fields: [
        { name: 'poolid', label: 'Name', required: true, value: row ? row.poolid : '', readonly: !!row },
        { name: 'comment', label: 'Comment', value: row ? row.comment : '' },
      ],
      async onSubmit(v) {
        await AG.api(row ? 'PUT' : 'POST', '/pools', v);
        panel.reload();
      },
    });
  }

  AG.register({
    id: 'pools',
    title: 'Pools',
    visible: audit,
    create() {
      const panel = AG.gridPanel({
        title: 'Pools',
        id: (r) => r.poolid,
        load: () => AG.api('GET', '/pools'),
        onActivate: (r) => poolWindow(panel, r),
        columns: [
          { key: 'poolid', label: 'Name' },
          { key: 'comment', label: 'Comment', cls: 'wrap' },
        ],
        buttons: [
          { text: 'Create', id: 'pool-create', handler: () => poolWindow(panel) },
          { text: 'Edit', id: 'pool-edit', selection: true, handler: (r) => poolWindow(panel, r) },
          removeButton(() => panel, 'pool-remove', (r) => r.poolid, (r) => `/pools/${encodeURIComponent(r.poolid)}`),
        ],
      });
      return panel;
    },
  });

  // --- Roles ---------------------------------------------------------------------------------

  async function roleWindow(panel, row) {
    const all = Object.keys(await AG.api('GET', '/access/roles/Administrator')).sort();
    const current = row ? Object.keys(await AG.api('GET', `/access/roles/${encodeURIComponent(row.roleid)}`)) : [];
    AG.window({
      title: row ? 'Edit: Role' : 'Create: Role',
      submitText: row ? 'OK' : 'Create',
      fields: [
        { name: 'roleid', label: 'Name', required: true, value: row ? row.roleid : '', readonly: !!row, pattern: /^(?!pve)[A-Za-z0-9._-]+$/i, patternText: 'Letters, digits, . _ - (not starting with PVE)' },
        { name: 'privs', label: 'Privileges', type: 'multi', required: true, size: 14, options: all, value: current },
      ],
      async onSubmit(v) {
        const privs = v.privs.join(',');
        if (row) await AG.api('PUT', `/access/roles/${encodeURIComponent(row.roleid)}`, { privs });
        else await AG.api('POST', '/access/roles', { roleid: v.roleid, privs });
        panel.reload();
      },
    });
  }

  AG.register({
    id: 'roles',
    title: 'Roles',
    visible: audit,
    create() {
      const custom = (r) => !Number(r.special);
      const panel = AG.gridPanel({
        title: 'Roles',
        id: (r) => r.roleid,
        load: async () => (await AG.api('GET', '/access/roles')).sort((a, b) => a.roleid.localeCompare(b.roleid)),
        onActivate: (r) => { if (custom(r)) roleWindow(panel, r).catch(AG.error); },
        columns: [
          { key: 'special', label: 'Built-In', render: (r) => (Number(r.special) ? 'Yes' : 'No') },
          { key: 'roleid', label: 'Name' },
          { key: 'privs', label: 'Privileges', cls: 'wrap', render: (r) => (r.privs ? String(r.privs).split(',').join(' ') : '-') },
        ],
        buttons: [
          { text: 'Create', id: 'role-create', handler: () => roleWindow(panel).catch(AG.error) },
          { text: 'Edit', id: 'role-edit', selection: true, enabled: custom, why: 'built-in roles cannot be changed', handler: (r) => roleWindow(panel, r).catch(AG.error) },
          Object.assign(removeButton(() => panel, 'role-remove', (r) => r.roleid, (r) => `/access/roles/${encodeURIComponent(r.roleid)}`), { enabled: custom }),
        ],
      });
      return panel;
    },
  });

  // --- Realms --------------------------------------------------------------------------------

  const REALM_FIELDS = {
    ldap: [
      { name: 'base_dn', label: 'Base Domain Name', required: true },
      { name: 'user_attr', label: 'User Attribute Name', required: true, value: 'uid' },
    ],
    ad: [{ name: 'domain', label: 'Domain', required: true }],
    openid: [
      { name: 'issuer-url', label: 'Issuer URL', required: true },
      { name: 'client-id', label: 'Client ID', required: true },
      { name: 'client-key', label: 'Client Key' },
      { name: 'scopes', label: 'Scopes', value: 'email profile' },
      { name: 'autocreate', label: 'Autocreate Users', type: 'checkbox', checked: false },
      { name: 'username-claim', label: 'Username Claim' },
      { name: 'groups-claim', label: 'Groups Claim' },
    ],
  };
  const DIRECTORY = [
    { name: 'server1', label: 'Server', required: true },
    { name: 'server2', label: 'Fallback Server' },
    { name: 'port', label: 'Port', type: 'number' },
    { name: 'mode', label: 'Mode', type: 'select', options: [['', 'Default (LDAP)'], ['ldap', 'LDAP'], ['ldap+starttls', 'STARTTLS'], ['ldaps', 'LDAPS']] },
    { name: 'verify', label: 'Verify Certificate', type: 'checkbox', checked: false },
    { name: 'bind_dn', label: 'Bind User' },
    { name: 'password', label: 'Bind Password', type: 'password', placeholder: 'Unchanged', autocomplete: 'new-password' },
  ];
  const TYPE_LABEL = { ad: 'Active Directory Server', ldap: 'LDAP Server', openid: 'OpenID Connect Server', pam: 'Linux PAM', pve: 'Proxmox VE authentication server' };

  async function realmWindow(panel, type, row) {
    const data = row ? await AG.api('GET', `/access/domains/${encodeURIComponent(row.realm)}`) : {};
    const kind = row ? row.type : type;
    const own = (REALM_FIELDS[kind] || []).concat(kind === 'ldap' || kind === 'ad' ? DIRECTORY : []);
    const fields = [
      { name: 'realm', label: 'Realm', required: true, value: row ? row.realm : '', readonly: !!row, pattern: /^[A-Za-z][A-Za-z0-9._-]+$/, patternText: 'Letters, digits, . _ - (starting with a letter)' },
      { name: 'default', label: 'Default', type: 'checkbox', value: data.default ? 1 : 0 },
      { name: 'comment', label: 'Comment', value: data.comment },
    ].concat(own.map((f) => Object.assign({}, f, data[f.name] !== undefined ? { value: data[f.name] } : {})));
    if (kind !== 'openid') fields.push({ name: 'tfa', label: 'Require TFA', value: data.tfa || '', placeholder: 'none (or type=oath / type=yubico,...)' });
    AG.window({
      title: `${row ? 'Edit' : 'Add'}: ${TYPE_LABEL[kind] || kind}`,
      submitText: row ? 'OK' : 'Add',
      wide: true,
      fields,
      async onSubmit(v) {
        const body = {};
        const del = [];
        for (const [k, val] of Object.entries(v)) {
          if (val === '' || (k === 'password' && !val)) { if (row && data[k] !== undefined) del.push(k); continue; }
          body[k] = val;
        }
        if (row) {
          delete body.realm;
          if (del.length) body.delete = del.join(',');
          await AG.api('PUT', `/access/domains/${encodeURIComponent(row.realm)}`, body);
        } else {
          body.type = kind;
          await AG.api('POST', '/access/domains', body);
        }
        panel.reload();
      },
    });
  }

  function syncWindow(r) {
    AG.window({
      title: 'Realm Sync',
      submitText: 'Sync',
      fields: [
        { name: 'scope', label: 'Scope', type: 'select', required: true, options: [['users', 'Users'], ['groups', 'Groups'], ['both', 'Users and Groups']], value: 'both' },
        { name: 'enable-new', label: 'Enable new', type: 'checkbox', checked: true },
        { name: 'acl', label: 'Remove vanished ACLs', type: 'checkbox', checked: false, submit: false },
        { name: 'entry', label: 'Remove vanished entries', type: 'checkbox', checked: false, submit: false },
        { name: 'properties', label: 'Remove vanished properties', type: 'checkbox', checked: false, submit: false },
        { name: 'dry-run', label: 'Preview only (dry run)', type: 'checkbox', checked: true },
      ],
      async onSubmit(v, w) {
        const vanished = ['acl', 'entry', 'properties'].filter((k) => w.value(k));
        v['remove-vanished'] = vanished.length ? vanished.join(';') : 'none';
        const report = await AG.api('POST', `/access/domains/${encodeURIComponent(r.realm)}/sync`, v);
        await AG.alert('Realm Sync', typeof report === 'string' ? report : JSON.stringify(report, null, 2));
      },
    });
  }

  AG.register({
    id: 'realms',
    title: 'Realms',
    visible: audit,
    create() {
      const panel = AG.gridPanel({
        title: 'Realms',
        id: (r) => r.realm,
        load: () => AG.api('GET', '/access/domains'),
        onActivate: (r) => realmWindow(panel, null, r).catch(AG.error),
        columns: [
          { key: 'realm', label: 'Realm' },
          { key: 'type', label: 'Type' },
          { key: 'tfa', label: 'TFA' },
          { key: 'comment', label: 'Comment', cls: 'wrap' },
        ],
        buttons: [
          {
            text: 'Add', id: 'realm-add',
            menu: ['ad', 'ldap', 'openid'].map((t) => ({ text: TYPE_LABEL[t], handler: () => realmWindow(panel, t).catch(AG.error) })),
          },
          { text: 'Edit', id: 'realm-edit', selection: true, handler: (r) => realmWindow(panel, null, r).catch(AG.error) },
          Object.assign(removeButton(() => panel, 'realm-remove', (r) => r.realm, (r) => `/access/domains/${encodeURIComponent(r.realm)}`),
            { enabled: (r) => ['ad', 'ldap', 'openid'].includes(r.type) }),
          { text: 'Sync', id: 'realm-sync', selection: true, enabled: (r) => ['ad', 'ldap'].includes(r.type), handler: syncWindow },
        ],
      });
      return panel;
    },
  });

  void el;
})();
