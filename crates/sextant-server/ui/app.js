// Sextant's web UI: a hash router over pages; every page talks to the server only through
// its JSON APIs (MLflow's /api/2.0/mlflow and Sextant's /api/sextant/v1).

import { renderExperiments } from './pages/experiments.js';
import { renderRuns } from './pages/runs.js';
import { renderRun } from './pages/run.js';
import { renderCompare } from './pages/compare.js';
import { renderModels, renderModel } from './pages/models.js';
import { showError, clearErrors, h, getSession, toLogin, signOut } from './util.js';

// Every page is called as page(el, query, stale): `stale()` turns true once the user has left
// the page, and a page checks it before anything it does later on its own (a delayed reload,
// a navigation after a request), so a page left behind never takes the browser back.
const routes = [
  [/^\/?$/, () => renderExperiments],
  [/^\/experiments\/([^/]+)$/, (m) => (el, q, stale) => renderRuns(el, decodeURIComponent(m[1]), q, stale)],
  // MLflow's own UI links (the mlflow client prints them): #/experiments/<id>/runs/<run>
  [/^\/experiments\/[^/]+\/runs\/([^/]+)$/, (m) => (el, q, stale) => renderRun(el, decodeURIComponent(m[1]), q, stale)],
  [/^\/runs\/([^/]+)$/, (m) => (el, q, stale) => renderRun(el, decodeURIComponent(m[1]), q, stale)],
  [/^\/compare$/, () => renderCompare],
  [/^\/models$/, () => renderModels],
  [/^\/models\/(.+)$/, (m) => (el, q, stale) => renderModel(el, decodeURIComponent(m[1]), q, stale)],
];

/** The current route: path and query of the part after `#`. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const i = raw.indexOf('?');
  const path = i < 0 ? raw : raw.slice(0, i);
  const query = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  return { path, query };
}

let generation = 0;

async function route() {
  const { path, query } = currentRoute();
  const main = document.getElementById('main');
  const mine = ++generation;
  // Left once another route started, or once the URL names another page (a hash set but not
  // yet routed: the hashchange event comes after the URL changes). Query changes a page makes
  // itself (history.replaceState) keep the path, so they do not make it stale.
  const stale = () => mine !== generation || currentRoute().path !== path;
  clearErrors();
  for (const a of document.querySelectorAll('[data-nav]')) {
    const on = a.dataset.nav === 'models' ? path.startsWith('/models') : !path.startsWith('/models');
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const [re, make] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const page = make(m);
    const el = h('div', { class: 'page' });
    main.replaceChildren(el);
    main.dataset.state = 'loading';
    try {
      await page(el, query, stale);
    } catch (e) {
      if (mine === generation) showError(e);
    }
    if (mine === generation) done(main);
    return;
  }
  main.replaceChildren(h('div', { class: 'page' }, h('h1', {}, 'Not found'),
    h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '#/' }, 'Back to experiments'))));
  done(main);
}

/** Mark the page rendered, with the URL it was rendered for (the browser tests wait for both:
 * after a hash-only navigation, `ready` alone may still be the previous page's). */
function done(main) {
  main.dataset.hash = location.hash;
  main.dataset.state = 'ready';
}

/** With auth on: who is signed in, in the header, with Sign out; nobody: the sign-in page.
 * Returns false when the page is going to the sign-in page. */
async function signedIn() {
  const s = await getSession();
  if (!s.auth_enabled) return true;
  if (!s.user) {
    toLogin();
    return false;
  }
  document.getElementById('signed-in-name').textContent = s.user.username;
  document.getElementById('signed-in').hidden = false;
  document.getElementById('sign-out').addEventListener('click', () => signOut());
  return true;
}

window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));
(async () => {
  let go = true;
  try {
    go = await signedIn();
  } catch (e) {
    showError(e);
  }
  if (!go) return;
  window.addEventListener('hashchange', route);
  route();
})();
