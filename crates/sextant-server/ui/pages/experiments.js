// Experiments: the list with run counts and last activity; create, rename, delete, restore.

import { h, mlflow, sextant, fmtTime, inline, navigate, keyboardTable, status, showError } from '../util.js';

export async function renderExperiments(el, q, stale = () => false) {
  const deleted = q.get('deleted') === '1';
  const err = h('div', { class: 'inline-error', hidden: true, id: 'exp-action-error' });
  const name = h('input', { id: 'new-exp-name', placeholder: 'New experiment name', 'aria-label': 'New experiment name', size: 32 });
  const create = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    const r = await inline(err, () => mlflow('experiments/create', { method: 'POST', body: { name: name.value } }));
    if (r && !stale()) navigate(`/experiments/${r.experiment_id}`);
  } }, name, h('button', { type: 'submit' }, 'Create'));
  const toggle = h('label', {}, h('input', { type: 'checkbox', checked: deleted, onchange: (e) => navigate('/', { deleted: e.target.checked ? '1' : '' }) }), ' Show deleted experiments');
  el.append(h('h1', {}, deleted ? 'Deleted experiments' : 'Experiments'), h('div', { class: 'toolbar' }, create, toggle), err);

  const exps = [];
  let token = null;
  do {
    const r = await mlflow('experiments/search', { method: 'POST', body: { max_results: 1000, view_type: deleted ? 'DELETED_ONLY' : 'ACTIVE_ONLY', order_by: ['last_update_time DESC'], page_token: token || undefined } });
    exps.push(...(r.experiments || []));
    token = r.next_page_token;
  } while (token && exps.length < 5000);

  if (!exps.length) {
    el.append(h('p', { class: 'muted', id: 'no-experiments' }, deleted ? 'No deleted experiments.' : 'No experiments yet. Create one above, or log runs with the MLflow client.'));
    return;
  }
  const counts = new Map();
  const rows = exps.map((e) => {
    const count = h('td', { class: 'num', dataset: { col: 'runs' } }, '…');
    const last = h('td', { dataset: { col: 'last' } }, fmtTime(e.last_update_time));
    counts.set(e.experiment_id, { count, last });
    const actions = h('td', {});
    const nameCell = h('td', {}, h('a', { href: `#/experiments/${encodeURIComponent(e.experiment_id)}`, class: 'exp-link' }, e.name));
    const rename = () => {
      const input = h('input', { value: e.name, 'aria-label': `New name for ${e.name}`, size: 28 });
      const form = h('form', { class: 'inline', onsubmit: async (ev) => {
        ev.preventDefault();
        const ok = await inline(err, () => mlflow('experiments/update', { method: 'POST', body: { experiment_id: e.experiment_id, new_name: input.value } }));
        if (ok) { status(`Renamed to ${input.value}`); if (!stale()) navigate('/', { deleted: deleted ? '1' : '', t: Date.now() }); }
      } }, input, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: () => location.reload() }, 'Cancel'));
      nameCell.replaceChildren(form);
      input.focus();
    };
    if (deleted) {
      actions.append(h('button', { class: 'secondary', onclick: async () => {
        const ok = await inline(err, () => mlflow('experiments/restore', { method: 'POST', body: { experiment_id: e.experiment_id } }));
        if (ok && !stale()) navigate('/', { t: Date.now() });
      } }, 'Restore'));
    } else {
      actions.append(h('button', { class: 'secondary', onclick: rename }, 'Rename'), ' ',
        h('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Delete experiment "${e.name}"? It can be restored from "Show deleted".`)) return;
          const ok = await inline(err, () => mlflow('experiments/delete', { method: 'POST', body: { experiment_id: e.experiment_id } }));
          if (ok) { status(`Deleted ${e.name}`); if (!stale()) navigate('/', { t: Date.now() }); }
        } }, 'Delete'));
    }
    return h('tr', { dataset: { id: e.experiment_id } }, nameCell, h('td', { class: 'num' }, e.experiment_id), count, last, h('td', {}, fmtTime(e.creation_time)), actions);
  });
  const table = h('table', { class: 'grid', id: 'experiments-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'ID'), h('th', {}, 'Runs'), h('th', {}, 'Last activity'), h('th', {}, 'Created'), h('th', {}, 'Actions'))),
    h('tbody', {}, rows));
  el.append(h('div', { class: 'table-wrap' }, table));
  keyboardTable(table);
  if (deleted) { for (const { count } of counts.values()) count.textContent = '—'; return; }
  // Counts come after first paint, 50 experiments per request.
  const ids = [...counts.keys()];
  for (let i = 0; i < ids.length; i += 50) {
    try {
      const r = await sextant('experiments/summary', { query: { experiment_id: ids.slice(i, i + 50) } });
      for (const s of r.summaries) {
        const c = counts.get(s.experiment_id);
        if (!c) continue;
        c.count.textContent = s.more ? `${s.run_count.toLocaleString('en')}+` : s.run_count.toLocaleString('en');
        c.last.textContent = fmtTime(s.last_activity);
      }
    } catch (e) {
      showError(e);
      return;
    }
  }
}
