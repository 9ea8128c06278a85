// The runs table of an experiment. The URL holds the whole view: filter (`f`), order (`o`),
// columns (`cols`), page size (`n`), page tokens of the pages walked so far (`pt`), deleted
// runs (`deleted`) and the runs selected for comparison (`sel`).

import {
  h, mlflow, fmtTime, fmtDuration, fmtNum, navigate, link, listParam, ident, parseCol, runName, kv,
  keyboardTable, inline, status,
} from '../util.js';

const DEFAULT_COLS = 8;

export async function renderRuns(el, expId, q, stale = () => false) {
  const state = {
    f: q.get('f') || '',
    o: q.get('o') || '',
    cols: q.has('cols') ? listParam(q, 'cols') : null,
    n: Math.min(Math.max(parseInt(q.get('n') || '100', 10) || 100, 10), 1000),
    pt: listParam(q, 'pt'),
    sel: listParam(q, 'sel'),
    deleted: q.get('deleted') === '1',
  };
  const go = (patch) => {
    if (stale()) return; // an answer that came after the user left: stay where they went
    const s = { ...state, ...patch };
    navigate(`/experiments/${encodeURIComponent(expId)}`, {
      f: s.f, o: s.o, cols: s.cols === null ? undefined : (s.cols.length ? s.cols : '-'), n: s.n === 100 ? '' : s.n,
      pt: s.pt, sel: s.sel, deleted: s.deleted ? '1' : '', t: patch.t,
    });
  };
  if (state.cols && state.cols.length === 1 && state.cols[0] === '-') state.cols = [];

  const exp = (await mlflow('experiments/get', { query: { experiment_id: expId } })).experiment;
  el.append(h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Experiments'), ' / '),
    h('h1', {}, exp.name, exp.lifecycle_stage === 'deleted' ? h('span', { class: 'badge rejected' }, ' deleted') : null));

  // Filter box: the server's own message for a bad expression appears beside it.
  const filter = h('input', { id: 'filter', value: state.f, 'aria-label': 'Filter runs (MLflow search syntax)', placeholder: "e.g. metrics.accuracy > 0.9 and params.model = 'resnet'", spellcheck: 'false' });
  const filterErr = h('div', { class: 'filter-error', id: 'filter-error', role: 'alert', hidden: true });
  const filterForm = h('form', { class: 'filter-row', onsubmit: (ev) => { ev.preventDefault(); go({ f: filter.value.trim(), pt: [] }); } },
    filter, h('button', { type: 'submit' }, 'Filter'), state.f ? h('button', { type: 'button', class: 'secondary', onclick: () => go({ f: '', pt: [] }) }, 'Clear') : null, filterErr);
  el.append(filterForm);

  const actionErr = h('div', { class: 'inline-error', id: 'runs-action-error', hidden: true });
  const toolbar = h('div', { class: 'toolbar' });
  el.append(toolbar, actionErr);
  const tableBox = h('div', {});
  el.append(tableBox);

  let page;
  const t0 = performance.now();
  try {
    page = await mlflow('runs/search', { method: 'POST', body: {
      experiment_ids: [expId], filter: state.f, order_by: state.o ? [state.o] : [], max_results: state.n,
      page_token: state.pt.length ? state.pt[state.pt.length - 1] : undefined,
      run_view_type: state.deleted ? 'DELETED_ONLY' : 'ACTIVE_ONLY',
    } });
  } catch (e) {
    if (e.code === 'INVALID_PARAMETER_VALUE' && state.f) {
      filterErr.hidden = false;
      filterErr.textContent = e.message;
      filter.setAttribute('aria-invalid', 'true');
      filter.setAttribute('aria-describedby', 'filter-error');
      tableBox.append(h('p', { class: 'muted' }, 'Fix the filter to see runs.'));
      return;
    }
    throw e;
  }
  const runs = page.runs || [];

  // Columns: chosen in the URL, else the first keys seen on this page.
  const seen = { params: new Set(), metrics: new Set(), tags: new Set() };
  for (const r of runs) {
    for (const p of r.data.params || []) seen.params.add(p.key);
    for (const m of r.data.metrics || []) seen.metrics.add(m.key);
    for (const t of r.data.tags || []) if (!t.key.startsWith('mlflow.')) seen.tags.add(t.key);
  }
  let cols = state.cols;
  if (cols === null) {
    cols = [...[...seen.metrics].sort().map((k) => `metrics:${k}`).slice(0, DEFAULT_COLS / 2),
      ...[...seen.params].sort().map((k) => `params:${k}`).slice(0, DEFAULT_COLS / 2)];
  }
  const colsParsed = cols.map(parseCol).filter(Boolean);

  // Toolbar: columns, selection actions, deleted toggle.
  const picker = h('details', { class: 'cols-picker' }, h('summary', { class: 'button secondary', style: 'background:#fff;color:var(--accent)' }, `Columns (${colsParsed.length})`));
  const panel = h('div', { class: 'cols-panel' });
  for (const kind of ['metrics', 'params', 'tags']) {
    const keys = new Set([...seen[kind], ...colsParsed.filter((c) => c.kind === kind).map((c) => c.key)]);
    if (!keys.size) continue;
    panel.append(h('h3', {}, kind));
    for (const k of [...keys].sort()) {
      const id = `${kind}:${k}`;
      panel.append(h('label', {}, h('input', { type: 'checkbox', checked: cols.includes(id), dataset: { col: id } }), ' ', k));
    }
  }
  panel.append(h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => {
    const chosen = [...panel.querySelectorAll('input[type=checkbox]')].filter((c) => c.checked).map((c) => c.dataset.col);
    go({ cols: chosen });
  } }, 'Apply columns')));
  picker.append(panel);

  const sel = new Set(state.sel);
  const selCount = h('span', { class: 'muted', id: 'sel-count' });
  const compareBtn = h('button', { id: 'compare-btn', onclick: () => navigate('/compare', { runs: [...sel], exp: expId }) }, 'Compare');
  const tagKey = h('input', { placeholder: 'tag key', 'aria-label': 'Tag key', size: 12 });
  const tagVal = h('input', { placeholder: 'value', 'aria-label': 'Tag value', size: 12 });
  const tagBtn = h('button', { class: 'secondary', onclick: async () => {
    const ok = await inline(actionErr, async () => {
      if (!tagKey.value.trim()) throw new Error('Give the tag a key.');
      for (const id of sel) await mlflow('runs/set-tag', { method: 'POST', body: { run_id: id, key: tagKey.value.trim(), value: tagVal.value } });
      return true;
    });
    if (ok) { status(`Tagged ${sel.size} run(s)`); go({ t: Date.now() }); }
  } }, 'Tag');
  const delBtn = h('button', { class: 'danger', onclick: async () => {
    const verb = state.deleted ? 'restore' : 'delete';
    if (!state.deleted && !confirm(`Delete ${sel.size} run(s)? They can be restored from "Deleted runs".`)) return;
    const ok = await inline(actionErr, async () => {
      for (const id of sel) await mlflow(`runs/${verb}`, { method: 'POST', body: { run_id: id } });
      return true;
    });
    if (ok) { status(`${verb === 'delete' ? 'Deleted' : 'Restored'} ${sel.size} run(s)`); go({ sel: [], t: Date.now() }); }
  } }, state.deleted ? 'Restore' : 'Delete');
  const syncSel = () => {
    selCount.textContent = sel.size ? `${sel.size} selected` : 'Select runs to compare, tag or delete';
    compareBtn.disabled = sel.size < 2;
    tagBtn.disabled = delBtn.disabled = sel.size === 0;
    // keep the selection in the URL without re-rendering
    const { path, query } = { path: location.hash.split('?')[0], query: new URLSearchParams(location.hash.split('?')[1] || '') };
    if (sel.size) query.set('sel', [...sel].join(',')); else query.delete('sel');
    const s = query.toString();
    history.replaceState(null, '', path + (s ? '?' + s : ''));
  };
  toolbar.append(picker, selCount, compareBtn, h('span', { class: 'muted' }, '|'), tagKey, tagVal, tagBtn, delBtn,
    h('label', { style: 'margin-left:auto' }, h('input', { type: 'checkbox', checked: state.deleted, onchange: (e) => go({ deleted: e.target.checked, pt: [], sel: [] }) }), ' Deleted runs'));

  if (!runs.length) {
    tableBox.append(h('p', { class: 'muted', id: 'no-runs' }, state.f ? 'No run matches this filter.' : 'No runs in this experiment yet.'));
    syncSel();
    return;
  }

  // Header: every column sorts (order_by on the server); click again to flip.
  const orderOf = (expr) => {
    if (!state.o) return null;
    const m = /^(.*?)\s+(ASC|DESC)$/i.exec(state.o.trim());
    const [k, dir] = m ? [m[1], m[2].toUpperCase()] : [state.o.trim(), 'ASC'];
    return k === expr ? dir : null;
  };
  const th = (label, expr, cls) => {
    const dir = orderOf(expr);
    const next = dir === 'DESC' ? `${expr} ASC` : `${expr} DESC`;
    return h('th', { class: cls, 'aria-sort': dir ? (dir === 'ASC' ? 'ascending' : 'descending') : 'none', title: expr },
      h('button', { class: 'sort', onclick: () => go({ o: next, pt: [] }) }, label, dir ? (dir === 'ASC' ? ' ▲' : ' ▼') : ''));
  };
  const allBox = h('input', { type: 'checkbox', 'aria-label': 'Select all runs on this page', onchange: (e) => {
    for (const cb of tableBox.querySelectorAll('tbody input[type=checkbox]')) { if (cb.checked !== e.target.checked) cb.click(); }
  } });
  const head = h('tr', {}, h('th', {}, allBox), th('Run', 'attributes.run_name'), th('Status', 'attributes.status'),
    th('Started', 'attributes.start_time'), h('th', {}, 'Duration'), th('User', 'attributes.user_id'),
    colsParsed.map((c) => th(c.key, ident(c.kind, c.key), `kind-${c.kind}`)));
  const body = h('tbody', {});
  for (const r of runs) {
    const params = kv(r.data.params), metrics = kv(r.data.metrics), tags = kv(r.data.tags);
    const id = r.info.run_id;
    const cb = h('input', { type: 'checkbox', checked: sel.has(id), 'aria-label': `Select run ${runName(r)}`, onchange: (e) => {
      if (e.target.checked) sel.add(id); else sel.delete(id);
      tr.classList.toggle('selected', e.target.checked);
      syncSel();
    } });
    const tr = h('tr', { class: sel.has(id) ? 'selected' : '', dataset: { runId: id } },
      h('td', {}, cb),
      h('td', {}, h('a', { href: `#/runs/${id}`, class: 'run-link' }, runName(r))),
      h('td', {}, h('span', { class: `badge ${r.info.status}` }, r.info.status)),
      h('td', {}, fmtTime(r.info.start_time)),
      h('td', {}, fmtDuration(r.info.end_time && r.info.start_time ? r.info.end_time - r.info.start_time : null)),
      h('td', {}, r.info.user_id),
      colsParsed.map((c) => {
        const v = c.kind === 'metrics' ? metrics[c.key] : c.kind === 'params' ? params[c.key] : tags[c.key];
        return h('td', { class: c.kind === 'metrics' ? 'num' : '', title: v === undefined ? '' : String(v) }, c.kind === 'metrics' ? fmtNum(v) : (v ?? ''));
      }));
    body.append(tr);
  }
  const table = h('table', { class: 'grid', id: 'runs-table', 'aria-label': 'Runs' }, h('thead', {}, head), body);
  tableBox.append(h('div', { class: 'table-wrap' }, table));
  keyboardTable(table);
  const ms = performance.now() - t0;
  el.dataset.renderMs = ms.toFixed(0);

  const pageNo = state.pt.length + 1;
  const first = state.pt.length * state.n + 1;
  tableBox.append(h('div', { class: 'pager', id: 'pager' },
    h('button', { class: 'secondary', disabled: !state.pt.length, onclick: () => go({ pt: state.pt.slice(0, -1) }) }, '← Previous'),
    h('span', {}, `Page ${pageNo} · runs ${first.toLocaleString('en')}–${(first + runs.length - 1).toLocaleString('en')}`),
    h('button', { class: 'secondary', id: 'next-page', disabled: !page.next_page_token, onclick: () => go({ pt: [...state.pt, page.next_page_token] }) }, 'Next →'),
    h('label', {}, ' Rows per page ', h('select', { 'aria-label': 'Rows per page', onchange: (e) => go({ n: parseInt(e.target.value, 10), pt: [] }) },
      [25, 50, 100, 250, 500, 1000].map((n) => h('option', { value: n, selected: n === state.n }, n)))),
    h('a', { href: '#' + link(`/experiments/${encodeURIComponent(expId)}`, { f: state.f, o: state.o, cols: state.cols ?? undefined }), class: 'muted' }, 'Link to this view'),
    h('span', { class: 'muted' }, `(${ms.toFixed(0)} ms)`)));
  syncSel();
}
