// aclgate web interface: Datacenter → Two Factor: the entries of every user the caller may see,
// and the windows that add TOTP (Secret + Randomize, Issuer Name, QR code drawn by aclgate,
// Verification Code, current password, Apply), WebAuthn, recovery keys (shown once) and Yubico.
// U2F entries are listed, edited and removed like the others but, as in Proxmox's current GUI,
// not added: registering needs the browsers' removed U2F API (clients register over the API).
'use strict';

(function () {
  const AG = window.AG;
  const el = AG.el;

  const isRoot = () => AG.session.user === 'root@pam';

  function passwordField() {
    return {
      name: 'password', label: 'Your Current Password', type: 'password', required: !isRoot(), hidden: isRoot(),
      minLength: 5, placeholder: `Confirm your (${AG.session.user}) password`, autocomplete: 'current-password',
    };
  }

  function userField(users) {
    return { name: 'userid', label: 'User', type: 'select', required: true, options: users, value: AG.session.user, submit: false };
  }

  const tfaUrl = (userid) => `/access/tfa/${encodeURIComponent(userid)}`;

  // 32 random base32 characters (160 bits), as Proxmox's Randomize.
  function randomSecret() {
    const bytes = new Uint8Array(32);
    window.crypto.getRandomValues(bytes);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    return Array.from(bytes, (b) => alphabet[b & 31]).join('');
  }

  function otpauth(userid, secret, issuer) {
    const enc = encodeURIComponent;
    return `otpauth://totp/${enc(issuer)}:${enc(userid)}?secret=${secret}&period=30&digits=6&algorithm=SHA1&issuer=${enc(issuer)}`;
  }

  // The QR code comes from aclgate (POST, so the secret stays out of URLs and third parties).
  async function drawQr(box, uri) {
    const answer = await AG.api('POST', '/access/aclgate/qrcode', { uri });
    const doc = new DOMParser().parseFromString(answer.svg, 'image/svg+xml');
    const svg = document.importNode(doc.documentElement, true);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'QR code of the TOTP secret for an authenticator app');
    AG.clear(box).append(svg);
  }

  async function totpWindow(panel) {
    const users = await AG.userOptions().catch(() => [AG.session.user]);
    const qr = el('div', { class: 'qr-box', id: 'totp-qr', 'aria-live': 'polite' });
    const randomize = el('button', { class: 'btn', type: 'button', text: 'Randomize' });
    let pending = null;
    const redraw = (w) => {
      window.clearTimeout(pending);
      pending = window.setTimeout(() => {
        const secret = w.value('secret');
        qr.hidden = !secret;
        if (secret) drawQr(qr, otpauth(w.value('userid'), secret, w.value('issuer'))).catch((e) => w.error(e.text || String(e)));
      }, 150);
    };
    const win = AG.window({
      title: 'Add a TOTP login factor',
      submitText: 'Apply',
      wide: true,
      fields: [
        Object.assign(userField(users), { onchange: (_, w) => redraw(w) }),
        { name: 'description', label: 'Description', required: true, maxLength: 256, placeholder: 'For example: TFA device ID, required to identify multiple factors.' },
        { name: 'secret', label: 'Secret', required: true, value: randomSecret(), extra: randomize, submit: false, pattern: /^[A-Z2-7=]+$/, patternText: 'Must be base32 [A-Z2-7=]', onchange: (_, w) => redraw(w) },
        { name: 'issuer', label: 'Issuer Name', value: `aclgate - ${location.hostname}`, submit: false, onchange: (_, w) => redraw(w) },
        { name: 'qr', label: 'QR Code', type: 'html', node: el('div', { class: 'field' }, el('span', { text: 'Scan this QR code with your TOTP app' }), qr) },
        { name: 'value', label: 'Verification Code', required: true, inputmode: 'numeric', autocomplete: 'one-time-code', placeholder: 'Scan QR code in a TOTP app and enter an auth. code here' },
        passwordField(),
      ],
      async onSubmit(v, w) {
        const userid = w.value('userid');
        v.type = 'totp';
        v.totp = otpauth(userid, w.value('secret'), w.value('issuer'));
        await AG.api('POST', tfaUrl(userid), v);
        panel.reload();
      },
    });
    randomize.addEventListener('click', () => { win.set('secret', randomSecret()); redraw(win); win.validate(); });
    redraw(win);
  }

  async function webauthnWindow(panel) {
    const users = await AG.userOptions().catch(() => [AG.session.user]);
    AG.window({
      title: 'Add a Webauthn login token',
      submitText: 'Register Webauthn Device',
      fields: [userField(users), { name: 'description', label: 'Description', required: true, maxLength: 256 }, passwordField()],
      async onSubmit(v, w) {
        const userid = w.value('userid');
        const first = await AG.api('POST', tfaUrl(userid), { type: 'webauthn', description: v.description, password: v.password });
        if (!first || !first.challenge) throw new Error('server did not respond with a challenge');
        const ch = JSON.parse(first.challenge);
        const pk = ch.publicKey;
        const original = pk.challenge;
        const publicKey = Object.assign({}, pk, {
          challenge: AG.b64uToBytes(pk.challenge),
          user: Object.assign({}, pk.user, { id: AG.b64uToBytes(pk.user.id) }),
          excludeCredentials: (pk.excludeCredentials || []).map((c) => Object.assign({}, c, { id: AG.b64uToBytes(c.id) })),
        });
        let cred;
        try {
          cred = await navigator.credentials.create({ publicKey });
        } catch (e) {
          if (e.name === 'InvalidStateError') throw new Error('Is this token already registered?');
          throw new Error(`An error occurred during token registration.\n${e.name}: ${e.message}`);
        }
        const value = JSON.stringify({
          id: cred.id,
          type: cred.type,
          rawId: AG.bytesToB64u(cred.rawId),
          response: {
            attestationObject: AG.bytesToB64u(cred.response.attestationObject),
            clientDataJSON: AG.bytesToB64u(cred.response.clientDataJSON),
          },
        });
        await AG.api('POST', tfaUrl(userid), { type: 'webauthn', challenge: original, value, password: v.password });
        panel.reload();
      },
    });
  }

  function recoveryKeysWindow(userid, keys) {
    const text = keys.map((k, i) => `${i}: ${k}`).join('\n');
    const area = el('textarea', { id: 'recovery-keys', class: 'mono', readonly: true, rows: keys.length + 1, value: text, 'aria-label': 'Recovery keys' });
    const status = el('span', { class: 'hint', role: 'status' });
    const close = el('button', { class: 'btn primary', type: 'button', text: 'Close' });
    const dlg = el('dialog', { class: 'window', 'aria-label': 'Recovery Keys' },
      el('div', { class: 'win-title', text: `Recovery Keys for '${userid}'` }),
      el('div', { class: 'win-body' }, area,
        el('div', { class: 'warning-box', role: 'note', text: 'Please record recovery keys - they will only be displayed now' }), status),
      el('div', { class: 'win-buttons' },
        el('button', {
          class: 'btn', type: 'button', text: 'Copy Recovery Keys',
          onclick: () => navigator.clipboard.writeText(text).then(() => { status.textContent = 'Copied.'; }, () => { area.select(); status.textContent = 'Select the text and copy it.'; }),
        }),
        el('button', { class: 'btn', type: 'button', text: 'Print Recovery Keys', onclick: () => window.print() }),
        close));
    dlg.addEventListener('cancel', (e) => e.preventDefault());
    close.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    area.focus();
  }

  async function recoveryWindow(panel) {
    const users = await AG.userOptions().catch(() => [AG.session.user]);
    AG.window({
      title: 'Add: TFA recovery keys',
      submitText: 'Add',
      fields: [userField(users), passwordField()],
      async onSubmit(v, w) {
        const userid = w.value('userid');
        const answer = await AG.api('POST', tfaUrl(userid), { type: 'recovery', password: v.password });
        panel.reload();
        recoveryKeysWindow(userid, answer.recovery || []);
      },
    });
  }

  async function yubicoWindow(panel) {
    const users = await AG.userOptions().catch(() => [AG.session.user]);
    AG.window({
      title: 'Add a Yubico OTP key',
      submitText: 'Add',
      intro: el('p', { class: 'hint', text: 'YubiKeys also support WebAuthn, which is often a better alternative.' }),
      fields: [
        userField(users),
        { name: 'description', label: 'Description', required: true, maxLength: 256 },
        { name: 'value', label: 'Yubico OTP Key', required: true, pattern: /^[A-Za-z0-9]{44}$/, patternText: 'A Yubico OTP is 44 letters and digits', placeholder: 'A currently valid Yubico OTP value' },
        passwordField(),
      ],
      async onSubmit(v, w) {
        await AG.api('POST', tfaUrl(w.value('userid')), Object.assign({ type: 'yubico' }, v));
        panel.reload();
      },
    });
  }

  function editWindow(panel, r) {
    AG.window({
      title: "Modify a TFA entry's description",
      fields: [
        { name: 'userid', label: 'User', type: 'display', value: r.userid },
        { name: 'description', label: 'Description', required: true, value: r.description },
        { name: 'enable', label: 'Enabled', type: 'checkbox', value: r.enable === undefined ? 1 : r.enable },
        passwordField(),
      ],
      async onSubmit(v) {
        await AG.api('PUT', `${tfaUrl(r.userid)}/${encodeURIComponent(r.id)}`, v);
        panel.reload();
      },
    });
  }

  function removeWindow(panel, r) {
    AG.window({
      title: 'Confirm TFA Removal',
      submitText: 'Remove',
      intro: el('p', { class: 'msg-text warn', text: 'Are you sure you want to remove this TFA entry?' }),
      fields: [
        { name: 'userid', label: 'User', type: 'display', value: r.userid },
        { name: 'type', label: 'Type', type: 'display', value: r.type },
        { name: 'created', label: 'Created', type: 'display', value: AG.fmtDateTime(r.created) },
        { name: 'description', label: 'Description', type: 'display', value: r.description || '' },
        passwordField(),
      ],
      async onSubmit(v) {
        // The password goes in the body, never in the URL (Proxmox puts it in the query).
        await AG.api('DELETE', `${tfaUrl(r.userid)}/${encodeURIComponent(r.id)}`, { password: v.password });
        panel.reload();
      },
    });
  }

  function enabledText(r) {
    if (Number(r['tfa-locked-until'] || 0) * 1000 > Date.now()) return 'Locked';
    if (r.type === 'totp' && r['totp-locked']) return 'Locked';
    return AG.yesNo(r.enable);
  }

  AG.register({
    id: 'tfa',
    title: 'Two Factor',
    visible: () => true,
    create() {
      const panel = AG.gridPanel({
        title: 'Two Factor',
        id: (r) => `${r.userid}/${r.id}`,
        emptyText: 'No second factors',
        load: async () => {
          const rows = [];
          for (const u of await AG.api('GET', '/access/tfa')) {
            for (const e of u.entries || []) {
              rows.push(Object.assign({}, e, { userid: u.userid, 'totp-locked': u['totp-locked'], 'tfa-locked-until': u['tfa-locked-until'] }));
            }
          }
          return rows;
        },
        onActivate: (r) => { if (r.type !== 'recovery') editWindow(panel, r); },
        columns: [
          { key: 'userid', label: 'User' },
          { key: 'enable', label: 'Enabled', render: enabledText },
          { key: 'type', label: 'TFA Type' },
          { key: 'created', label: 'Created', render: (r) => AG.fmtDateTime(r.created) },
          { key: 'description', label: 'Description', cls: 'wrap' },
        ],
        buttons: [
          {
            text: 'Add', id: 'tfa-add',
            menu: [
              { text: 'TOTP', handler: () => totpWindow(panel).catch(AG.error) },
              { text: 'WebAuthn', handler: () => webauthnWindow(panel).catch(AG.error) },
              { text: 'Recovery Keys', handler: () => recoveryWindow(panel).catch(AG.error) },
              { text: 'Yubico OTP', handler: () => yubicoWindow(panel).catch(AG.error) },
            ],
          },
          { text: 'Edit', id: 'tfa-edit', selection: true, enabled: (r) => r.type !== 'recovery', handler: (r) => editWindow(panel, r) },
          { text: 'Remove', id: 'tfa-remove', selection: true, handler: (r) => removeWindow(panel, r) },
        ],
      });
      return panel;
    },
  });
})();
