// The sign-in page: POST the form as JSON to /api/sextant/v1/session (the server answers with
// an HttpOnly session cookie), then go to `next`. Loaded as a file: the page runs no inline
// script (the server's Content-Security-Policy allows scripts from the server only).

const form = document.getElementById('login-form');
const errorBox = document.getElementById('login-error');
const submit = document.getElementById('login-submit');

/** Where to go after signing in: `next` if it is a path on this server, else the home page.
 * A fragment the browser kept across the server's redirect (`/login?next=/#/models`) is kept. */
export function nextTarget(search, hash) {
  const raw = new URLSearchParams(search).get('next') || '/';
  // Only a local path: no scheme, no `//host`, no backslash tricks, no control characters.
  const safe = /^\/(?![/\\])[^\s\\]*$/.test(raw) && !/[\u0000-\u001f]/.test(raw) ? raw : '/';
  if (safe.startsWith('/login')) return '/';
  return hash && !safe.includes('#') ? safe + hash : safe;
}

const target = nextTarget(location.search, location.hash);

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

async function session(init) {
  const res = await fetch('/api/sextant/v1/session', {
    credentials: 'same-origin',
    ...init,
    headers: { Accept: 'application/json', ...(init && init.headers) },
  });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  return { res, body };
}

// Already signed in, or auth off: nothing to do here.
(async () => {
  try {
    const { res, body } = await session();
    if (res.ok && body && (!body.auth_enabled || body.user)) location.replace(target);
  } catch { /* the form still works */ }
})();

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  errorBox.hidden = true;
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    showError('Enter your username and password.');
    return;
  }
  submit.disabled = true;
  try {
    const { res, body } = await session({
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (res.ok) {
      location.replace(target);
      return;
    }
    const msg = body && body.message;
    if (res.status === 401) showError('Wrong username or password.');
    else if (res.status === 429) showError(msg || 'Too many failed sign-ins: wait a minute and try again.');
    else showError(msg || `The server answered ${res.status} ${res.statusText}.`);
    form.elements.password.select();
  } catch (e) {
    showError(`Cannot reach the server (${e.message}).`);
  } finally {
    submit.disabled = false;
  }
});
