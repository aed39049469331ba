// aclgate web interface: the login window (user name, password, realm from GET /access/domains;
// for an OpenID realm the redirect to its provider instead) and the second-factor window
// (WebAuthn, TOTP, recovery key, U2F, Yubico OTP) as Proxmox shows them. U2F keys sign through
// WebAuthn's `appid` extension: browsers no longer offer the U2F API Proxmox's window calls.
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;

  const LAST_REALM = 'ag.lastRealm';
  const LAST_TAB = 'ag.tfaLastTab';

  function realmLabel(r) {
    let label = r.comment || r.realm;
    if (r.tfa === 'oath') label += ' (+ oath)';
    else if (r.tfa === 'yubico') label += ' (+ yubico)';
    return label;
  }

  function loginFailed(e) {
    if (e.status) return `Login failed:\n${e.message.trim()}\nPlease try again`;
    return e.message || 'Login failed. Please try again';
  }

  // Back from an OpenID provider (`?state=&code=`): finish that login, as Proxmox's
  // LoginWindow does; the query is dropped from the address either way.
  async function openidReturn() {
    const q = new URLSearchParams(window.location.search);
    if (!q.get('state') || !q.get('code')) return null;
    window.history.replaceState(null, '', window.location.pathname + window.location.hash);
    try {
      const data = await AG.api('POST', '/access/openid/login', {
        state: q.get('state'), code: q.get('code'), 'redirect-url': window.location.origin,
      }, { login: true });
      AG.session.set(data);
      return data;
    } catch (e) {
      return { error: 'OpenID login failed, please try again' };
    }
  }

  // Show the login window; resolves once a full ticket is stored.
  AG.login = async function () {
    const back = await openidReturn();
    if (back && !back.error) return back;
    let realms = [];
    try { realms = await AG.api('GET', '/access/domains', null, { login: true }); } catch (_) { realms = []; }
    realms.sort((a, b) => String(a.realm).localeCompare(String(b.realm)));
    const last = window.localStorage.getItem(LAST_REALM);
    const chosen = (realms.find((r) => r.realm === last) || realms.find((r) => r.default) || realms.find((r) => r.realm === 'pam') || realms[0] || {}).realm;
    const isOpenid = (realm) => (realms.find((r) => r.realm === realm) || {}).type === 'openid';
    // An openid realm hides and disables user name and password; the button says where it goes.
    const adapt = (realm, win) => {
      const openid = isOpenid(realm);
      win.show('username', !openid);
      win.show('password', !openid);
      win.dlg.querySelector('.win-buttons .btn.primary').textContent = openid ? 'Login (OpenID redirect)' : 'Login';
    };
    return new Promise((resolve) => {
      AG.window({
        title: 'aclgate Login',
        onShow(win) {
          adapt(chosen, win);
          if (back && back.error) win.error(back.error);
        },
        submitText: 'Login',
        noCancel: true,
        noEscape: true,
        intro: el('div', { class: 'login-brand' }, el('span', { class: 'logo-mark', 'aria-hidden': 'true' }), el('span', { text: 'aclgate' }),
          el('span', { class: 'login-sub', text: 'Proxmox VE access control gateway' })),
        fields: [
          { name: 'username', label: 'User name', required: true, autocomplete: 'username' },
          { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' },
          {
            name: 'realm', label: 'Realm', type: 'select', required: true, value: chosen,
            options: realms.map((r) => [r.realm, realmLabel(r)]),
            onchange: (realm, win) => adapt(realm, win),
          },
        ],
        async onSubmit(v) {
          window.localStorage.setItem(LAST_REALM, v.realm);
          if (isOpenid(v.realm)) {
            let url;
            try {
              url = await AG.api('POST', '/access/openid/auth-url', {
                realm: v.realm, 'redirect-url': window.location.origin,
              }, { login: true });
            } catch (e) {
              throw new Error('OpenID redirect failed.');
            }
            window.location.href = url;
            return false;
          }
          let data;
          try {
            data = await AG.api('POST', '/access/ticket', {
              username: v.username, password: v.password, realm: v.realm, 'new-format': 1,
            }, { login: true });
          } catch (e) {
            throw new Error(loginFailed(e));
          }
          if (String(data.ticket).startsWith('PVE:!tfa!')) {
            data = await secondFactor(data);
            if (!data) return false;
          }
          AG.session.set(data);
          resolve(data);
          return true;
        },
      });
    });
  };

  // The challenge travels inside the half ticket: second field, `!tfa!` stripped, URL-decoded.
  function challengeOf(ticket) {
    const field = String(ticket).split(':')[1] || '';
    return JSON.parse(decodeURIComponent(field.replace(/^!tfa!/, '')));
  }

  // The TFA window; resolves to the full ticket answer, or null if the user gave up.
  function secondFactor(half) {
    const ch = challengeOf(half.ticket);
    const tabs = [
      { id: 'webauthn', label: 'WebAuthn', on: !!ch.webauthn },
      { id: 'totp', label: 'TOTP App', on: !!ch.totp },
      { id: 'recovery', label: 'Recovery Key', on: Array.isArray(ch.recovery) },
      { id: 'u2f', label: 'U2F', on: !!ch.u2f, hideOff: true },
      { id: 'yubico', label: 'Yubico OTP', on: !!ch.yubico },
    ];
    // Tabs that start a device challenge instead of taking typed input.
    const device = { webauthn: 'Start WebAuthn challenge', u2f: 'Start U2F challenge' };
    return new Promise((resolve) => {
      const status = el('div', { class: 'tfa-status', role: 'status' });
      const tabList = el('div', { class: 'tabs', role: 'tablist' });
      const panes = el('div', { class: 'tab-panes' });
      const submit = el('button', { class: 'btn primary', type: 'submit', text: 'Confirm Second Factor' });
      const cancel = el('button', { class: 'btn', type: 'button', text: 'Cancel' });
      const form = el('form', { class: 'win-form', novalidate: true }, tabList, panes, status);
      const dlg = el('dialog', { class: 'window', id: 'tfa-window', 'aria-label': 'Second login factor required' },
        el('div', { class: 'win-title', text: 'Second login factor required' }),
        el('div', { class: 'win-body' }, form),
        el('div', { class: 'win-buttons' }, cancel, submit));
      const formId = AG.uid('tfa');
      form.id = formId;
      submit.setAttribute('form', formId);
      let active = null;
      let done = false;
      const inputs = {};

      const spec = {
        totp: ['Please enter your TOTP verification code', /^[0-9]{2,16}$/, 'TOTP codes usually consist of six decimal digits', 'one-time-code', 'numeric'],
        recovery: ['Please enter one of your single-use recovery keys', /^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/, 'Does not look like a valid recovery key'],
        yubico: ['Please press the button on your Yubico key', /^[a-z0-9]{30,60}$/, 'Yubico OTPs consist of 30 to 60 lowercase letters and digits'],
      };

      for (const t of tabs) {
        const tab = el('button', {
          class: 'tab', type: 'button', role: 'tab', id: `tfa-tab-${t.id}`, 'aria-controls': `tfa-pane-${t.id}`,
          disabled: !t.on, hidden: !!t.hideOff && !t.on, text: t.label,
        });
        tab.addEventListener('click', () => activate(t.id));
        tabList.append(tab);
        const pane = el('div', { class: 'tab-pane', role: 'tabpanel', id: `tfa-pane-${t.id}`, 'aria-labelledby': `tfa-tab-${t.id}`, hidden: true });
        if (device[t.id]) {
          pane.append(el('p', { text: 'Please insert your authentication device and press its button' }));
        } else {
          const [label, , , ac, mode] = spec[t.id];
          const id = `tfa-${t.id}`;
          const input = el('input', { id, name: t.id, autocomplete: ac || 'off', inputmode: mode, spellcheck: 'false' });
          inputs[t.id] = input;
          input.addEventListener('input', check);
          pane.append(el('label', { for: id, text: label }), input);
          if (t.id === 'recovery') pane.append(el('p', { class: 'hint', text: recoveryHint(ch.recovery) }));
        }
        panes.append(pane);
      }

      function recoveryHint(list) {
        if (!Array.isArray(list)) return '';
        if (list.length === 0) return 'No more recovery keys left! Please generate a new set!';
        let t = `Available recovery keys: ${list.map((i) => `ID ${i}`).join(', ')}`;
        if (list.length < 4) t += '. Less than 4 recovery keys available. Please generate a new set after login!';
        return t;
      }

      function check() {
        if (device[active]) { submit.disabled = false; return true; }
        const input = inputs[active];
        const [, re, msg] = spec[active] || [];
        const ok = !!input && re.test(input.value.trim());
        submit.disabled = !ok;
        status.textContent = input && input.value && !ok ? msg : '';
        return ok;
      }

      function activate(id) {
        active = id;
        window.localStorage.setItem(LAST_TAB, id);
        for (const t of tabs) {
          const on = t.id === id;
          dlg.querySelector(`#tfa-tab-${t.id}`).setAttribute('aria-selected', on ? 'true' : 'false');
          dlg.querySelector(`#tfa-tab-${t.id}`).classList.toggle('active', on);
          dlg.querySelector(`#tfa-pane-${t.id}`).hidden = !on;
          if (inputs[t.id]) inputs[t.id].disabled = !on;
        }
        submit.textContent = device[id] || 'Confirm Second Factor';
        status.textContent = '';
        check();
        if (inputs[id]) inputs[id].focus();
      }

      async function answer(response) {
        const data = await AG.api('POST', '/access/ticket', {
          username: half.username, 'tfa-challenge': half.ticket, password: response,
        }, { login: true });
        done = true;
        dlg.close();
        resolve(data);
      }

      async function confirm() {
        if (!check()) return;
        submit.disabled = true;
        try {
          if (active === 'webauthn') {
            status.textContent = 'Waiting for second factor.';
            await answer(`webauthn:${JSON.stringify(await webauthnGet(ch.webauthn))}`);
          } else if (active === 'u2f') {
            status.textContent = 'Waiting for second factor.';
            await answer(`u2f:${JSON.stringify(await u2fGet(ch.u2f))}`);
          } else {
            await answer(`${active}:${inputs[active].value.trim()}`);
          }
        } catch (e) {
          // A wrong code and a lockout are the same 401, as in Proxmox.
          const prefix = active === 'u2f' ? 'U2F Error: ' : '';
          status.textContent = e instanceof AG.ApiError ? loginFailed(e) : `${prefix}${e.name || 'Error'}: ${e.message}`;
          submit.disabled = false;
        }
      }

      form.addEventListener('submit', (e) => { e.preventDefault(); confirm(); });
      cancel.addEventListener('click', () => dlg.close());
      dlg.addEventListener('close', () => { dlg.remove(); if (!done) resolve(null); });
      document.body.append(dlg);
      dlg.showModal();

      const usable = tabs.filter((t) => t.on);
      if (!usable.length) {
        status.textContent = 'No second factor left! Please contact an administrator!';
        activate('recovery');
        return;
      }
      const last = window.localStorage.getItem(LAST_TAB);
      activate((usable.find((t) => t.id === last) || usable[0]).id);
    });
  }

  // A U2F-registered key answers the U2F challenge through WebAuthn: its key handles as allowed
  // credentials and the AppID in the `appid` extension, so the key signs for SHA-256(AppID) as
  // it did under the U2F API. Browsers take only https AppIDs of the page's own host.
  async function u2fGet(u2f) {
    const publicKey = {
      challenge: AG.b64uToBytes(u2f.challenge.challenge),
      allowCredentials: (u2f.keys || []).map((k) => ({ type: 'public-key', id: AG.b64uToBytes(k.keyHandle) })),
      userVerification: 'discouraged',
      timeout: 120000,
      extensions: { appid: u2f.challenge.appId },
    };
    const cred = await navigator.credentials.get({ publicKey });
    return {
      id: cred.id,
      type: cred.type,
      rawId: AG.bytesToB64u(cred.rawId),
      response: {
        authenticatorData: AG.bytesToB64u(cred.response.authenticatorData),
        clientDataJSON: AG.bytesToB64u(cred.response.clientDataJSON),
        signature: AG.bytesToB64u(cred.response.signature),
      },
    };
  }

  // navigator.credentials.get with the challenge's base64url fields as bytes; the answer with
  // its binary fields as base64url without padding, plus the original challenge string.
  async function webauthnGet(challenge) {
    const pk = challenge.publicKey;
    const original = pk.challenge;
    const publicKey = Object.assign({}, pk, {
      challenge: AG.b64uToBytes(pk.challenge),
      allowCredentials: (pk.allowCredentials || []).map((c) => Object.assign({}, c, { id: AG.b64uToBytes(c.id) })),
    });
    const cred = await navigator.credentials.get({ publicKey });
    return {
      id: cred.id,
      type: cred.type,
      challenge: original,
      rawId: AG.bytesToB64u(cred.rawId),
      response: {
        authenticatorData: AG.bytesToB64u(cred.response.authenticatorData),
        clientDataJSON: AG.bytesToB64u(cred.response.clientDataJSON),
        signature: AG.bytesToB64u(cred.response.signature),
      },
    };
  }
})();
