// aclgate web interface: Datacenter → Permissions (the ACL grid) with its Add menu (group, user
// and API-token permission) and Remove, as Proxmox's ACLView.
'use strict';

(function () {
  const AG = window.AG;

  const FIXED_PATHS = ['/', '/access', '/access/groups', '/access/realm', '/mapping', '/mapping/pci',
    '/mapping/usb', '/nodes', '/pool', '/sdn/zones', '/storage', '/vms'];

  // Path suggestions: the fixed paths plus every pool and every path already in an ACL.
  async function pathOptions() {
    const set = new Set(FIXED_PATHS);
    try { (await AG.api('GET', '/access/acl')).forEach((e) => set.add(e.path)); } catch (_) { /* none */ }
    try { (await AG.api('GET', '/pools')).forEach((p) => set.add(`/pool/${p.poolid}`)); } catch (_) { /* none */ }
    return Array.from(set).sort();
  }

  AG.roleOptions = async function () {
    const roles = await AG.api('GET', '/access/roles');
    return roles.map((r) => r.roleid).sort();
  };

  AG.userOptions = async function () {
    const users = await AG.api('GET', '/access/users', { full: 1 });
    return users.map((u) => u.userid).sort();
  };

  AG.groupOptions = async function () {
    return (await AG.api('GET', '/access/groups')).map((g) => g.groupid).sort();
  };

  AG.tokenOptions = async function () {
    const users = await AG.api('GET', '/access/users', { full: 1 });
    const out = [];
    for (const u of users) for (const t of u.tokens || []) out.push(`${u.userid}!${t.tokenid}`);
    return out.sort();
  };

  // kind: 'group' | 'user' | 'token'
  async function addWindow(panel, kind) {
    const [paths, roles, who] = await Promise.all([
      pathOptions(),
      AG.roleOptions(),
      kind === 'group' ? AG.groupOptions() : kind === 'user' ? AG.userOptions() : AG.tokenOptions(),
    ]);
    const listId = AG.uid('paths');
    const datalist = AG.el('datalist', { id: listId }, paths.map((p) => AG.el('option', { value: p })));
    const label = { group: 'Group', user: 'User', token: 'API Token' }[kind];
    const param = { group: 'groups', user: 'users', token: 'tokens' }[kind];
    const win = AG.window({
      title: `Add: ${label} Permission`,
      submitText: 'Add',
      fields: [
        { name: 'path', label: 'Path', required: true, value: '/', extra: datalist, pattern: /^\//, patternText: 'A path starts with /' },
        { name: 'ugid', label, type: 'select', required: true, options: [['', ''], ...who], value: '' },
        { name: 'roles', label: 'Role', type: 'select', required: true, options: roles, value: 'NoAccess' },
        { name: 'propagate', label: 'Propagate', type: 'checkbox', checked: true },
      ],
      async onSubmit(v) {
        await AG.api('PUT', '/access/acl', { path: v.path, [param]: v.ugid, roles: v.roles, propagate: v.propagate });
        panel.reload();
      },
    });
    win.fields.path.input.setAttribute('list', listId);
  }

  AG.register({
    id: 'acl',
    title: 'Permissions',
    visible: () => AG.session.can('dc', 'Sys.Audit'),
    create() {
      const panel = AG.gridPanel({
        title: 'Permissions',
        id: (r) => `${r.path}|${r.type}|${r.ugid}|${r.roleid}`,
        load: async () => (await AG.api('GET', '/access/acl')).sort((a, b) => a.path.localeCompare(b.path)),
        columns: [
          { key: 'path', label: 'Path' },
          { key: 'ugid', label: 'User/Group/API Token', render: (r) => (r.type === 'group' ? `@${r.ugid}` : r.ugid) },
          { key: 'roleid', label: 'Role' },
          { key: 'propagate', label: 'Propagate', render: (r) => AG.yesNo(r.propagate) },
        ],
        buttons: [
          {
            text: 'Add', id: 'acl-add',
            menu: [
              { text: 'Group Permission', handler: () => addWindow(panel, 'group').catch(AG.error) },
              { text: 'User Permission', handler: () => addWindow(panel, 'user').catch(AG.error) },
              { text: 'API Token Permission', handler: () => addWindow(panel, 'token').catch(AG.error) },
            ],
          },
          {
            text: 'Remove', id: 'acl-remove', selection: true,
            handler: async (r) => {
              if (!(await AG.confirm('Confirm', 'Are you sure you want to remove this entry'))) return;
              const param = { group: 'groups', user: 'users', token: 'tokens' }[r.type];
              await AG.act(panel, () => AG.api('PUT', '/access/acl', { delete: 1, path: r.path, roles: r.roleid, [param]: r.ugid }));
            },
          },
        ],
      });
      return panel;
    },
  });
})();
