// aclgate web interface: DOM helpers, the API client and the session (ticket, CSRF token, cap).
// The page talks only to /api2/json/access/* (and /pools) with the ticket cookie and the
// CSRFPreventionToken header; no secret ever goes into a URL.
'use strict';

const AG = (window.AG = window.AG || {});

// Script errors, kept for the browser tests' failure messages.
AG.errors = [];
window.addEventListener('error', (e) => AG.errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => AG.errors.push(String(e.reason && (e.reason.stack || e.reason.message) || e.reason)));

// Panels register themselves: {id, title, visible() → bool, create() → {node, reload}}.
AG.panels = [];
AG.register = (p) => AG.panels.push(p);

// --- DOM -----------------------------------------------------------------------------------

// el('div', {class: 'x', text: 'hi', onclick: fn, 'aria-label': 'y'}, child, ...)
AG.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'value') node.value = v;
    else if (k === 'checked') node.checked = !!v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
};

AG.clear = function (node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
};

let uid = 0;
AG.uid = (p) => `${p || 'ag'}-${++uid}`;

// --- formatting ----------------------------------------------------------------------------

AG.fmtDate = function (epoch) {
  const n = Number(epoch || 0);
  if (!n) return 'never';
  return new Date(n * 1000).toISOString().slice(0, 10);
};

AG.fmtDateTime = function (epoch) {
  const n = Number(epoch || 0);
  if (!n) return 'N/A';
  return new Date(n * 1000).toISOString().slice(0, 19).replace('T', ' ');
};

AG.yesNo = (v) => (v === undefined || v === null || Number(v) !== 0 && v !== false ? 'Yes' : 'No');

AG.splitUserid = function (id) {
  const at = String(id).lastIndexOf('@');
  return at < 0 ? [String(id), ''] : [id.slice(0, at), id.slice(at + 1)];
};

// --- session -------------------------------------------------------------------------------

const store = window.sessionStorage;

AG.session = {
  get user() { return store.getItem('ag.user'); },
  get ticket() { return store.getItem('ag.ticket'); },
  get csrf() { return store.getItem('ag.csrf'); },
  get cap() {
    try { return JSON.parse(store.getItem('ag.cap') || '{}'); } catch (_) { return {}; }
  },
  get loggedIn() { return !!store.getItem('ag.ticket') && !!store.getItem('ag.csrf'); },

  // Store a full ticket answer (login or renewal).
  set(data) {
    store.setItem('ag.user', data.username);
    store.setItem('ag.ticket', data.ticket);
    store.setItem('ag.csrf', data.CSRFPreventionToken);
    if (data.cap) store.setItem('ag.cap', JSON.stringify(data.cap));
    store.setItem('ag.renewed', String(Date.now()));
    AG.setCookie(data.ticket);
  },

  clear() {
    for (const k of ['ag.user', 'ag.ticket', 'ag.csrf', 'ag.cap', 'ag.renewed']) store.removeItem(k);
    AG.setCookie(null);
  },

  // Whether the caller holds `priv` somewhere under the `cap` key (`access`, `dc`, ...).
  can(key, priv) {
    const c = this.cap[key];
    return !!(c && c[priv]);
  },
};

// The ticket cookie, as Proxmox's GUI sets it (path /, SameSite, Secure over TLS).
AG.setCookie = function (ticket) {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  if (ticket) {
    document.cookie = `PVEAuthCookie=${encodeURIComponent(ticket)}; path=/; SameSite=Strict${secure}`;
  } else {
    document.cookie = `PVEAuthCookie=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Strict${secure}`;
  }
};

// --- API -----------------------------------------------------------------------------------

const BASE = '/api2/json';

function formBody(params) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => body.append(k, x));
    else body.append(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return body;
}

// An API error: `message (status)` plus one line per parameter error, as Proxmox shows it.
class ApiError extends Error {
  constructor(status, message, errors) {
    super(message);
    this.status = status;
    this.errors = errors || null;
  }
  get text() {
    let t = `${this.message.trim()}${this.status ? ` (${this.status})` : ''}`;
    if (this.errors) {
      for (const [k, v] of Object.entries(this.errors)) t += `\n${k}: ${String(v).trim()}`;
    }
    return t;
  }
}
AG.ApiError = ApiError;

let unauthorized = 0;

// api('GET', '/access/users', {full: 1}) → the answer's `data`. GET sends parameters in the
// query (never secrets); everything else sends them as a form body, DELETE included, so that
// a password confirming a removal stays out of URLs and logs.
AG.api = async function (method, path, params, opts) {
  let url = BASE + path;
  const init = { method, credentials: 'same-origin', headers: {} };
  if (method === 'GET') {
    const q = formBody(params).toString();
    if (q) url += `?${q}`;
  } else {
    init.body = formBody(params);
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    if (AG.session.csrf) init.headers.CSRFPreventionToken = AG.session.csrf;
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'Connection failure. Network error or aclgate not running?');
  }
  let json = null;
  try { json = await resp.json(); } catch (_) { json = null; }
  if (!resp.ok) {
    const msg = (json && json.message) || resp.statusText || 'request failed';
    if (resp.status === 401 && !(opts && opts.login)) {
      // More than five 401s in a row: the ticket is gone, ask for a new login.
      unauthorized += 1;
      if (unauthorized > 5 && AG.onSessionLost) AG.onSessionLost();
    }
    throw new ApiError(resp.status, msg, json && json.errors);
  }
  unauthorized = 0;
  return json ? json.data : null;
};

// --- ticket renewal ------------------------------------------------------------------------

const RENEW_MS = 15 * 60 * 1000;
let renewTimer = null;

AG.renew = async function () {
  if (!AG.session.loggedIn) return;
  const data = await AG.api('POST', '/access/ticket', {
    username: AG.session.user,
    password: AG.session.ticket,
  }, { login: true });
  AG.session.set(data);
};

AG.startRenewal = function () {
  AG.stopRenewal();
  renewTimer = window.setInterval(() => {
    AG.renew().catch(() => { if (AG.onSessionLost) AG.onSessionLost(); });
  }, RENEW_MS);
};

AG.stopRenewal = function () {
  if (renewTimer) window.clearInterval(renewTimer);
  renewTimer = null;
};

// --- base64url (WebAuthn) ------------------------------------------------------------------

AG.b64uToBytes = function (s) {
  const b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
  const pad = b64.length % 4 ? '='.repeat(4 - (b64.length % 4)) : '';
  const bin = atob(b64 + pad);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
};

AG.bytesToB64u = function (buf) {
  const bytes = new Uint8Array(buf);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
