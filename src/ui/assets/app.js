// aclgate web interface: the workspace — top bar with the user menu, the Datacenter tree on the
// left, the selected panel on the right — and the session life cycle (login, renewal, logout).
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;

  const ORDER = ['acl', 'users', 'tokens', 'tfa', 'groups', 'pools', 'roles', 'realms', 'why'];

  let current = null;

  function show(id) {
    const def = AG.panels.find((p) => p.id === id);
    if (!def) return;
    const main = document.getElementById('main');
    AG.clear(main);
    current = def.create();
    main.append(current.node);
    for (const a of document.querySelectorAll('#nav [data-panel]')) {
      const on = a.dataset.panel === id;
      a.classList.toggle('active', on);
      if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    window.location.hash = id;
    current.reload();
  }
  AG.show = show;

  function buildNav() {
    const nav = AG.clear(document.getElementById('nav'));
    const list = el('ul', { class: 'tree', role: 'tree', 'aria-label': 'Datacenter' });
    const dc = el('li', { role: 'treeitem', 'aria-expanded': 'true' },
      el('span', { class: 'tree-node root', text: 'Datacenter' }));
    const sub = el('ul', { role: 'group' });
    const visible = ORDER.map((id) => AG.panels.find((p) => p.id === id)).filter((p) => p && p.visible());
    const item = (p, depth) => {
      const link = el('a', { href: `#${p.id}`, class: `tree-node d${depth} icon-${p.id}`, 'data-panel': p.id, text: p.title });
      link.addEventListener('click', (e) => { e.preventDefault(); show(p.id); });
      return el('li', { role: 'treeitem' }, link);
    };
    // Permissions holds the rest, as in Proxmox; without it (no Sys.Audit) they sit at the top.
    const acl = visible.find((p) => p.id === 'acl');
    const rest = visible.filter((p) => p.id !== 'acl' && p.id !== 'why');
    if (acl) {
      const li = item(acl, 1);
      li.append(el('ul', { role: 'group' }, rest.map((p) => item(p, 2))));
      sub.append(li);
    } else {
      rest.forEach((p) => sub.append(item(p, 1)));
    }
    const why = visible.find((p) => p.id === 'why');
    if (why) sub.append(item(why, 1));
    dc.append(sub);
    list.append(dc);
    nav.append(list);
    return visible;
  }

  function userMenu() {
    const me = AG.session.user;
    const btn = el('button', { class: 'btn user-btn', type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', text: me });
    const items = [
      ['Password', () => AG.passwordWindow(me, () => {})],
      ['TFA', () => show('tfa')],
      ['Log out everywhere', logoutEverywhere],
      ['Logout', logout],
    ];
    const menu = el('div', { class: 'menu right', role: 'menu', hidden: true });
    for (const [text, fn] of items) {
      const mi = el('button', { class: 'menu-item', type: 'button', role: 'menuitem', text });
      mi.addEventListener('click', () => { menu.hidden = true; btn.setAttribute('aria-expanded', 'false'); fn(); });
      menu.append(mi);
    }
    btn.addEventListener('click', () => {
      menu.hidden = !menu.hidden;
      btn.setAttribute('aria-expanded', String(!menu.hidden));
      if (!menu.hidden) menu.firstChild.focus();
    });
    menu.addEventListener('keydown', (e) => {
      const list = Array.from(menu.children);
      const at = list.indexOf(document.activeElement);
      if (e.key === 'Escape') { menu.hidden = true; btn.focus(); }
      else if (e.key === 'ArrowDown') { list[(at + 1) % list.length].focus(); e.preventDefault(); }
      else if (e.key === 'ArrowUp') { list[(at - 1 + list.length) % list.length].focus(); e.preventDefault(); }
    });
    document.addEventListener('click', (e) => { if (!btn.parentNode.contains(e.target)) menu.hidden = true; });
    return el('span', { class: 'tb-menu' }, btn, menu);
  }

  function logout() {
    AG.stopRenewal();
    AG.session.clear();
    start();
  }

  async function logoutEverywhere() {
    const ok = await AG.confirm('Log out everywhere',
      `End every session of ${AG.session.user}? All tickets issued to you up to now stop working, in every browser and on every gateway sharing this state.`, true);
    if (!ok) return;
    try {
      await AG.api('POST', '/access/aclgate/logout');
    } catch (e) {
      await AG.error(e);
      return;
    }
    logout();
  }

  function workspace() {
    const userArea = document.getElementById('user-area');
    AG.clear(userArea).append(userMenu());
    document.getElementById('app').hidden = false;
    const visible = buildNav();
    const wanted = window.location.hash.slice(1);
    const first = visible.find((p) => p.id === wanted) || visible[0];
    if (first) show(first.id);
  }

  async function start() {
    document.getElementById('app').hidden = true;
    AG.clear(document.getElementById('main'));
    if (!AG.session.loggedIn) {
      await AG.login();
    } else {
      // A stored ticket: renew it now, which also proves it still works.
      try { await AG.renew(); } catch (_) { AG.session.clear(); await AG.login(); }
    }
    AG.startRenewal();
    workspace();
  }

  let lost = false;
  AG.onSessionLost = function () {
    if (lost) return;
    lost = true;
    AG.stopRenewal();
    AG.session.clear();
    start().finally(() => { lost = false; });
  };

  document.addEventListener('DOMContentLoaded', start);
})();
