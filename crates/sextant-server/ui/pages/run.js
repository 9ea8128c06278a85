// A run: info, params, metrics (with a chart), tags, datasets, the `sextant run` records
// (`sextant.*` tags and `logs/` artifacts) and an artifact browser with previews.
// URL state: m (metric), x, log, sm (chart), art (artifact shown).

import { h, mlflow, fmtTime, fmtDuration, fmtNum, runName, artifactUrl, keyboardTable, inline } from '../util.js';
import { metricPanel } from './metricchart.js';

const TEXT = ['txt', 'log', 'md', 'py', 'sh', 'cfg', 'ini', 'toml', 'r', 'sql', 'out', 'err', 'diff', 'patch', 'mlmodel', 'requirements'];
const MAX_PREVIEW = 5 * 1024 * 1024;

function replaceQuery(patch) {
  const [path, qs] = location.hash.split('?');
  const q = new URLSearchParams(qs || '');
  for (const [k, v] of Object.entries(patch)) { if (v === '' || v === null || v === undefined || v === false) q.delete(k); else q.set(k, v); }
  const s = q.toString();
  history.replaceState(null, '', path + (s ? '?' + s : ''));
}

const kvTable = (rows, id) => {
  const t = h('table', { class: 'kvs', id }, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v)))));
  return t;
};

export async function renderRun(el, runId, q, stale = () => false) {
  const run = (await mlflow('runs/get', { query: { run_id: runId } })).run;
  const info = run.info;
  const tags = run.data.tags || [];
  const exp = (await mlflow('experiments/get', { query: { experiment_id: info.experiment_id } })).experiment;
  el.append(h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Experiments'), ' / ', h('a', { href: `#/experiments/${info.experiment_id}` }, exp.name), ' /'),
    h('h1', { id: 'run-title' }, runName(run), ' ', h('span', { class: `badge ${info.status}` }, info.status),
      info.lifecycle_stage === 'deleted' ? h('span', { class: 'badge rejected' }, 'deleted') : null));

  const note = tags.find((t) => t.key === 'mlflow.note.content');
  el.append(h('div', { class: 'grid2' },
    h('section', { class: 'section' }, h('h2', {}, 'Run'), kvTable([
      ['Run ID', h('code', {}, info.run_id)], ['Experiment', exp.name], ['User', info.user_id], ['Started', fmtTime(info.start_time)],
      ['Ended', fmtTime(info.end_time)], ['Duration', fmtDuration(info.end_time && info.start_time ? info.end_time - info.start_time : null)],
      ['Artifact URI', h('code', {}, info.artifact_uri)], ...(note ? [['Note', note.value]] : []),
    ], 'run-info')),
    h('section', { class: 'section' }, h('h2', {}, `Parameters (${(run.data.params || []).length})`),
      (run.data.params || []).length ? kvTable(run.data.params.map((p) => [p.key, p.value]), 'run-params') : h('p', { class: 'muted' }, 'No parameters.'))));

  // Metrics and the chart
  const metrics = run.data.metrics || [];
  const chartEl = h('div', { id: 'run-chart' });
  const mt = h('table', { class: 'grid', id: 'run-metrics' }, h('thead', {}, h('tr', {}, h('th', {}, 'Metric'), h('th', {}, 'Latest'), h('th', {}, 'Step'), h('th', {}, 'Logged'), h('th', {}, ''))),
    h('tbody', {}, metrics.map((m) => h('tr', {}, h('td', {}, m.key), h('td', { class: 'num' }, fmtNum(m.value)), h('td', { class: 'num' }, m.step), h('td', {}, fmtTime(m.timestamp)),
      h('td', {}, h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); const s = chartEl.querySelector('#chart-metric'); if (s) { s.value = m.key; s.dispatchEvent(new Event('change')); s.focus(); } } }, 'Chart'))))));
  el.append(h('section', { class: 'section' }, h('h2', {}, `Metrics (${metrics.length})`),
    metrics.length ? [h('div', { class: 'table-wrap', style: 'max-height:260px' }, mt), chartEl] : h('p', { class: 'muted' }, 'No metrics.')));
  if (metrics.length) {
    keyboardTable(mt);
    metricPanel(chartEl, { runs: [{ id: runId, label: runName(run) }], keys: metrics.map((m) => m.key).sort(),
      state: { m: q.get('m'), x: q.get('x'), log: q.get('log'), sm: q.get('sm') }, onState: replaceQuery });
  }

  // Tags, with Sextant's records apart
  const userTags = tags.filter((t) => !t.key.startsWith('mlflow.') && !t.key.startsWith('sextant.'));
  const sysTags = tags.filter((t) => t.key.startsWith('mlflow.') && t.key !== 'mlflow.note.content');
  const sx = tags.filter((t) => t.key.startsWith('sextant.'));
  const tagErr = h('div', { class: 'inline-error', hidden: true });
  const tk = h('input', { placeholder: 'key', 'aria-label': 'New tag key', size: 14 }), tv = h('input', { placeholder: 'value', 'aria-label': 'New tag value', size: 18 });
  el.append(h('section', { class: 'section' }, h('h2', {}, `Tags (${userTags.length})`),
    userTags.length ? kvTable(userTags.map((t) => [t.key, t.value]), 'run-tags') : h('p', { class: 'muted' }, 'No tags.'),
    h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      const ok = await inline(tagErr, () => mlflow('runs/set-tag', { method: 'POST', body: { run_id: runId, key: tk.value.trim(), value: tv.value } }));
      if (ok && !stale()) location.reload();
    } }, tk, tv, h('button', { type: 'submit', class: 'secondary' }, 'Add tag')), tagErr,
    sysTags.length ? h('details', {}, h('summary', {}, `MLflow system tags (${sysTags.length})`), kvTable(sysTags.map((t) => [t.key, t.value]))) : null));

  // Datasets
  const ds = (run.inputs && run.inputs.dataset_inputs) || [];
  if (ds.length) {
    el.append(h('section', { class: 'section' }, h('h2', {}, `Datasets (${ds.length})`),
      h('table', { class: 'grid', id: 'run-datasets' }, h('thead', {}, h('tr', {}, ['Name', 'Digest', 'Context', 'Source type', 'Source', 'Schema'].map((c) => h('th', {}, c)))),
        h('tbody', {}, ds.map((d) => h('tr', {}, h('td', {}, d.dataset.name), h('td', {}, h('code', {}, d.dataset.digest)),
          h('td', {}, (d.tags || []).filter((t) => t.key === 'mlflow.data.context').map((t) => t.value).join(', ')),
          h('td', {}, d.dataset.source_type), h('td', { title: d.dataset.source }, d.dataset.source),
          h('td', { title: d.dataset.schema || '' }, (d.dataset.schema || '').slice(0, 80))))))));
  }

  // sextant run records
  if (sx.length) {
    const groups = new Map();
    for (const t of sx) {
      const rest = t.key.slice('sextant.'.length);
      const g = rest.startsWith('stages.') ? rest.split('.').slice(0, 2).join('.') : (rest.includes('.') ? rest.split('.')[0] : 'run');
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push([t.key.slice('sextant.'.length), t.value]);
    }
    el.append(h('section', { class: 'section', id: 'sextant-records' }, h('h2', {}, 'sextant run records'),
      h('p', { class: 'muted' }, 'What ', h('code', {}, 'sextant run'), ' recorded: command, git state, environment; its logs are under ', h('code', {}, 'logs/'), ' in the artifacts below.'),
      h('div', { class: 'cards' }, [...groups].map(([g, rows]) => h('div', { class: 'card' }, h('h3', {}, g),
        kvTable(rows.map(([k, v]) => [k, v.length > 200 || v.includes('\n') ? h('pre', { class: 'pre-block' }, v) : v])))))));
  }

  // Artifacts
  const art = h('section', { class: 'section' }, h('h2', {}, 'Artifacts'));
  el.append(art);
  await artifactBrowser(art, run, q.get('art'));
}

async function listDir(runId, path) {
  const r = await mlflow('artifacts/list', { query: { run_id: runId, path: path || undefined } });
  return (r.files || []).sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
}

async function artifactBrowser(section, run, initial) {
  const runId = run.info.run_id;
  const tree = h('nav', { class: 'art-tree', 'aria-label': 'Artifact files', id: 'artifact-tree' });
  const preview = h('div', { class: 'art-preview', id: 'artifact-preview' }, h('p', { class: 'muted' }, 'Choose a file to preview it.'));
  const err = h('div', { class: 'inline-error', hidden: true });
  let files;
  try {
    files = await listDir(runId, '');
  } catch (e) {
    section.append(err);
    err.hidden = false;
    err.textContent = `Cannot list artifacts: ${e.message}`;
    throw e;
  }
  if (!files.length) { section.append(h('p', { class: 'muted', id: 'no-artifacts' }, 'No artifacts.')); return; }
  section.append(h('div', { class: 'artifacts' }, tree, preview));
  let current = null;
  const toggles = new Map();
  const open = async (f, btn) => {
    if (current) current.classList.remove('current');
    current = btn; if (btn) btn.classList.add('current');
    replaceQuery({ art: f.path });
    await showPreview(preview, run, f);
  };
  const renderList = (items) => h('ul', {}, items.map((f) => {
    const name = f.path.split('/').pop();
    const li = h('li', {});
    if (f.is_dir) {
      let loaded = false;
      const sub = h('div', { hidden: true });
      const toggle = async () => {
        const opening = sub.hidden;
        sub.hidden = !opening; btn.setAttribute('aria-expanded', String(opening));
        btn.textContent = (opening ? '▾ ' : '▸ ') + name + '/';
        if (opening && !loaded) { loaded = true; try { sub.replaceChildren(renderList(await listDir(runId, f.path))); } catch (e) { sub.replaceChildren(h('div', { class: 'inline-error' }, e.message)); } }
      };
      const btn = h('button', { class: 'link', 'aria-expanded': 'false', dataset: { path: f.path }, onclick: toggle }, '▸ ' + name + '/');
      toggles.set(f.path, toggle);
      li.append(btn, sub);
    } else {
      const btn = h('button', { class: 'link', dataset: { path: f.path }, onclick: () => open(f, btn) }, name);
      li.append(btn, f.file_size ? h('span', { class: 'chart-note' }, ` ${fmtSize(f.file_size)}`) : null);
    }
    return li;
  }));
  tree.append(renderList(files));
  if (initial) {
    // open the folders on the way, then the file
    const parts = initial.split('/');
    for (let i = 1; i < parts.length; i++) {
      const t = toggles.get(parts.slice(0, i).join('/'));
      if (t) await t();
    }
    const b = [...tree.querySelectorAll('button[data-path]')].find((x) => x.dataset.path === initial);
    if (b) b.click(); else await showPreview(preview, run, { path: initial, is_dir: false });
  }
}

const fmtSize = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

/** CSV (RFC 4180 quotes) into rows. */
export function parseCsv(text, sep = ',') {
  const rows = [];
  let row = [], cell = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') { if (text[i + 1] === '"') { cell += '"'; i++; } else quoted = false; } else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) { row.push(cell); cell = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

async function showPreview(preview, run, f) {
  const url = artifactUrl(run.info.artifact_uri, f.path);
  const name = f.path.split('/').pop();
  const ext = name.includes('.') ? name.split('.').pop().toLowerCase() : name.toLowerCase();
  const head = h('div', { class: 'toolbar' }, h('strong', {}, f.path), url ? h('a', { class: 'button secondary', style: 'background:#fff;color:var(--accent)', href: url, download: name, id: 'artifact-download' }, 'Download') : null);
  preview.replaceChildren(head);
  preview.dataset.kind = '';
  if (!url) { preview.append(h('p', { class: 'muted' }, `This run's artifacts (${run.info.artifact_uri}) are not served through this server.`)); return; }
  if (['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp'].includes(ext)) {
    const img = h('img', { src: url, alt: f.path });
    preview.append(img);
    preview.dataset.kind = 'image';
    await new Promise((res) => { img.onload = res; img.onerror = () => { preview.append(h('div', { class: 'inline-error' }, `Cannot load the image ${f.path}.`)); res(); }; });
    return;
  }
  const textual = ['json', 'yaml', 'yml', 'csv', 'tsv', 'html', 'htm', ...TEXT].includes(ext) || name === 'MLmodel';
  if (!textual) { preview.append(h('p', { class: 'muted' }, 'No preview for this kind of file; download it instead.')); preview.dataset.kind = 'none'; return; }
  if (f.file_size && f.file_size > MAX_PREVIEW) { preview.append(h('p', { class: 'muted' }, `Too large to preview (${fmtSize(f.file_size)}).`)); preview.dataset.kind = 'none'; return; }
  let text;
  try {
    const res = await fetch(url);
    text = await res.text();
    if (!res.ok) { let m = text; try { m = JSON.parse(text).message || text; } catch { /* not JSON */ } throw new Error(m); }
  } catch (e) {
    preview.append(h('div', { class: 'inline-error' }, `Cannot read ${f.path}: ${e.message}`));
    return;
  }
  if (ext === 'json') {
    let pretty = text;
    try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { preview.append(h('div', { class: 'inline-error' }, `Not valid JSON: ${e.message}`)); }
    preview.append(h('pre', { class: 'preview-json' }, pretty)); preview.dataset.kind = 'json';
  } else if (ext === 'csv' || ext === 'tsv') {
    const rows = parseCsv(text, ext === 'tsv' ? '\t' : ',');
    const [hdr, ...body] = rows;
    const shown = body.slice(0, 1000);
    const t = h('table', { class: 'grid', id: 'csv-preview' }, h('thead', {}, h('tr', {}, (hdr || []).map((c) => h('th', {}, c)))),
      h('tbody', {}, shown.map((r) => h('tr', {}, r.map((c) => h('td', { class: /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(c) ? 'num' : '' }, c))))));
    preview.append(h('div', { class: 'table-wrap', style: 'max-height:520px' }, t), body.length > shown.length ? h('p', { class: 'muted' }, `First ${shown.length} of ${body.length} rows.`) : null);
    keyboardTable(t);
    preview.dataset.kind = 'csv';
  } else if (ext === 'html' || ext === 'htm') {
    // Sandboxed: no scripts, no same-origin access to the API.
    preview.append(h('iframe', { sandbox: '', srcdoc: text, title: `Report ${f.path}`, id: 'html-preview', referrerpolicy: 'no-referrer' }));
    preview.dataset.kind = 'html';
  } else {
    preview.append(h('pre', { class: ext === 'yaml' || ext === 'yml' ? 'preview-yaml' : 'preview-text' }, text));
    preview.dataset.kind = ext === 'yaml' || ext === 'yml' ? 'yaml' : 'text';
  }
}
