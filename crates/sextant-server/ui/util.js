// Small helpers shared by the pages: element building, the API client, error display, formats.

/** Build an element: h('a', {href: '#/'}, 'text', child, ...). Attributes starting with `on`
 * are listeners; `null`/`false` children and attributes are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // Through CSSOM, not a style attribute: the server's CSP refuses inline style attributes.
    else if (k === 'style') el.style.cssText = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An error from the server's API: its message, error code and HTTP status. */
export class ApiError extends Error {
  constructor(message, code, status, path) {
    super(message);
    this.code = code;
    this.status = status;
    this.path = path;
  }
}

/** Call a JSON API. `query` becomes the query string (arrays repeat the key); `body` is sent
 * as JSON. Non-2xx answers throw an ApiError carrying the server's own message. */
export async function api(path, { method = 'GET', query = null, body = undefined, headers = {} } = {}) {
  let url = path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null) continue;
      for (const x of Array.isArray(v) ? v : [v]) qs.append(k, String(x));
    }
    const s = qs.toString();
    if (s) url += '?' + s;
  }
  const init = { method, headers: { ...headers } };
  // Without auth, who acts is the server's --user or this name; with auth, the signed-in user.
  const user = authEnabled ? null : localStorage.getItem('sextant.user');
  if (user) init.headers['X-Sextant-User'] = user;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(`Cannot reach the server (${e.message})`, 'NETWORK', 0, path);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch { data = null; }
  if (res.status === 401) {
    // Signed out (the session expired or was ended elsewhere): sign in again, then come back.
    toLogin();
    throw new ApiError('Not signed in: taking you to the sign-in page.', 'UNAUTHENTICATED', 401, path);
  }
  if (!res.ok) {
    const msg = data && data.message ? data.message : (text || res.statusText || 'request failed');
    throw new ApiError(msg, (data && data.error_code) || `HTTP_${res.status}`, res.status, path);
  }
  if (data === null) throw new ApiError(`The server answered ${path} with something that is not JSON`, 'BAD_RESPONSE', res.status, path);
  return data;
}

/** The session: `{auth_enabled, user: {username, is_admin} | null}` (auth off when the server
 * has no session endpoint). Sets whether the API calls send X-Sextant-User. */
let authEnabled = false;
export async function getSession() {
  let res;
  try {
    res = await fetch('/api/sextant/v1/session', { headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new ApiError(`Cannot reach the server (${e.message})`, 'NETWORK', 0, 'session');
  }
  if (res.status === 404) return { auth_enabled: false, user: null };
  const body = await res.json().catch(() => null);
  if (!res.ok || !body) throw new ApiError(body?.message || `HTTP ${res.status}`, body?.error_code || `HTTP_${res.status}`, res.status, 'session');
  authEnabled = !!body.auth_enabled;
  return body;
}

/** Go to the sign-in page, which comes back here afterwards. */
export function toLogin() {
  const here = location.pathname + location.search + location.hash;
  location.assign('/login?next=' + encodeURIComponent(here));
}

/** End the session on the server (its cookie is cleared) and go to the sign-in page. */
export async function signOut() {
  try {
    await fetch('/api/sextant/v1/session', { method: 'DELETE' });
  } finally {
    location.assign('/login');
  }
}

export const mlflow = (endpoint, opts) => api('/api/2.0/mlflow/' + endpoint, opts);
export const sextant = (endpoint, opts) => api('/api/sextant/v1/' + endpoint, opts);

/** Show an error in the page's banner (never swallowed); returns the banner element. */
export function showError(e) {
  // A 401: the browser is already on its way to the sign-in page.
  if (e && e.code === 'UNAUTHENTICATED') return null;
  const box = document.getElementById('errors');
  const msg = e instanceof Error ? e.message : String(e);
  const code = e && e.code ? e.code : null;
  const item = h('div', { class: 'error-banner', role: 'alert' },
    h('strong', {}, code ? `${code}: ` : 'Error: '), h('span', { class: 'error-message' }, msg),
    h('button', { class: 'link', 'aria-label': 'Dismiss error', onclick: () => item.remove() }, '×'));
  box.append(item);
  console.error(e);
  return item;
}

export function clearErrors() {
  document.getElementById('errors').replaceChildren();
}

/** Run an action, showing its failure inline in `where` (an element) and in nothing else. */
export async function inline(where, fn) {
  where.replaceChildren();
  where.hidden = true;
  try {
    return await fn();
  } catch (e) {
    where.hidden = false;
    where.replaceChildren(h('strong', {}, e.code ? `${e.code}: ` : 'Error: '), e.message || String(e));
    return undefined;
  }
}

/** Set the status line (e.g. "Saved"). */
export function status(text) {
  const s = document.getElementById('status');
  if (s) s.textContent = text;
}

const pad = (n) => String(n).padStart(2, '0');

export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === '' || Number(ms) <= 0) return '—';
  const d = new Date(Number(ms));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return '—';
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function fmtNum(v) {
  if (v === null || v === undefined || v === '') return '';
  if (typeof v === 'string') return v; // "NaN", "Infinity"
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

/** Navigate to `#path?query`, dropping empty query values. */
export function navigate(path, query = {}) {
  location.hash = '#' + link(path, query);
}

export function link(path, query = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    qs.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = qs.toString();
  return path + (s ? '?' + s : '');
}

/** The query's value of `k` as a list (comma-separated in the URL). */
export function listParam(q, k) {
  const v = q.get(k);
  return v ? v.split(',').filter(Boolean) : [];
}

/** A search-grammar identifier: `metrics.\`key\`` (backticks so any key works). */
export function ident(kind, key) {
  return `${kind}.\`${key.replace(/`/g, '')}\``;
}

/** A column id `metrics:key` → {kind, key}. */
export function parseCol(c) {
  const i = c.indexOf(':');
  return i < 0 ? null : { kind: c.slice(0, i), key: c.slice(i + 1) };
}

export function runName(run) {
  return run.info.run_name || (run.data.tags || []).find((t) => t.key === 'mlflow.runName')?.value || run.info.run_id;
}

/** `{key: value}` of a run's params, metrics (latest value) or tags. */
export function kv(list, valueKey = 'value') {
  const o = {};
  for (const x of list || []) o[x.key] = x[valueKey];
  return o;
}

/** The artifact proxy URL of `rel` under a run's artifact root, or null if not proxied. */
export function artifactUrl(artifactUri, rel) {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/?(.*)$/.exec(artifactUri || '');
  if (!m) return null;
  const root = m[1].replace(/^\/+|\/+$/g, '');
  const full = [root, rel.replace(/^\/+/, '')].filter(Boolean).join('/');
  return '/api/2.0/mlflow-artifacts/artifacts/' + full.split('/').map(encodeURIComponent).join('/');
}

/** Fetch every run of `ids` (pages of 1000) – for small sets like compare. */
export async function getRuns(ids) {
  return Promise.all(ids.map((id) => mlflow('runs/get', { query: { run_id: id } }).then((r) => r.run)));
}

/** Make the rows of `table` keyboard navigable: arrows move, Home/End jump, Enter opens the
 * row's first link, Space toggles its checkbox. */
export function keyboardTable(table) {
  table.addEventListener('keydown', (ev) => {
    const row = ev.target.closest('tbody tr');
    if (!row || ev.target.matches('input[type=text], input:not([type]), select, textarea')) return;
    const rows = [...table.querySelectorAll('tbody tr')];
    const i = rows.indexOf(row);
    let next = null;
    if (ev.key === 'ArrowDown') next = rows[i + 1];
    else if (ev.key === 'ArrowUp') next = rows[i - 1];
    else if (ev.key === 'Home' && ev.ctrlKey) next = rows[0];
    else if (ev.key === 'End' && ev.ctrlKey) next = rows[rows.length - 1];
    else if (ev.key === 'Enter' && ev.target === row) {
      const a = row.querySelector('a[href]');
      if (a) { ev.preventDefault(); a.click(); }
      return;
    } else if (ev.key === ' ' && ev.target === row) {
      const cb = row.querySelector('input[type=checkbox]');
      if (cb) { ev.preventDefault(); cb.click(); }
      return;
    }
    if (next) { ev.preventDefault(); next.focus(); }
  });
  for (const r of table.querySelectorAll('tbody tr')) r.tabIndex = 0;
}

export const COLORS = ['#1f5fa8', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0e7490', '#a16207', '#be185d', '#4d7c0f', '#334155'];
