// Compare two or more runs: params side by side with differences highlighted, a metric table,
// overlaid charts, and a scatter of any param or metric against any other.
// URL state: runs, m/x/log/sm (chart), sx/sy (scatter axes), diff (only differing params).

import { h, fmtNum, runName, kv, listParam, getRuns, COLORS, keyboardTable } from '../util.js';
import { metricPanel } from './metricchart.js';
import { scatter } from '../chart.js';

function replaceQuery(patch) {
  const [path, qs] = location.hash.split('?');
  const q = new URLSearchParams(qs || '');
  for (const [k, v] of Object.entries(patch)) { if (v === '' || v === null || v === undefined || v === false) q.delete(k); else q.set(k, v); }
  history.replaceState(null, '', path + '?' + q.toString());
}

export async function renderCompare(el, q) {
  const ids = listParam(q, 'runs');
  el.append(h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Experiments'), ' /'), h('h1', {}, `Compare ${ids.length} runs`));
  if (ids.length < 2) {
    el.append(h('p', { class: 'muted' }, 'Select two or more runs in a runs table, then press Compare.'));
    return;
  }
  const runs = await getRuns(ids);
  const exp = q.get('exp') || runs[0].info.experiment_id;
  el.querySelector('.crumbs').append(' ', h('a', { href: `#/experiments/${exp}?sel=${ids.join(',')}` }, 'back to the runs table'));
  const names = runs.map(runName);
  const P = runs.map((r) => kv(r.data.params)), M = runs.map((r) => kv(r.data.metrics)), T = runs.map((r) => kv((r.data.tags || []).filter((t) => !t.key.startsWith('mlflow.'))));
  const head = h('thead', {}, h('tr', {}, h('th', {}, ''), runs.map((r, i) => h('th', {}, h('span', { class: 'chart-legend' }, h('span', { class: 'sw', style: `background:${COLORS[i % COLORS.length]}` })), h('a', { href: `#/runs/${r.info.run_id}` }, names[i])))));

  // Params: rows whose values differ are highlighted
  const onlyDiff = q.get('diff') === '1';
  const pkeys = [...new Set(P.flatMap(Object.keys))].sort();
  const differs = (vals) => new Set(vals.map((v) => (v === undefined ? '\u0000' : v))).size > 1;
  const prow = (k, vals) => h('tr', { class: differs(vals) ? 'diff' : '', dataset: { key: k } }, h('th', { scope: 'row' }, k, differs(vals) ? h('span', { class: 'sr-only' }, ' (differs)') : null), vals.map((v) => h('td', { title: v ?? '' }, v ?? '—')));
  const ptable = h('table', { class: 'grid', id: 'compare-params' }, head.cloneNode(true),
    h('tbody', {}, pkeys.map((k) => [k, P.map((p) => p[k])]).filter(([, v]) => !onlyDiff || differs(v)).map(([k, v]) => prow(k, v))));
  const nDiff = pkeys.filter((k) => differs(P.map((p) => p[k]))).length;
  el.append(h('section', { class: 'section' }, h('h2', {}, `Parameters (${nDiff} of ${pkeys.length} differ)`),
    h('label', {}, h('input', { type: 'checkbox', checked: onlyDiff, onchange: (e) => { replaceQuery({ diff: e.target.checked ? '1' : '' }); location.reload(); } }), ' Only differences'),
    h('div', { class: 'table-wrap', style: 'max-height:380px' }, ptable)));
  keyboardTable(ptable);

  // Metrics: latest values; best of each row in bold
  const mkeys = [...new Set(M.flatMap(Object.keys))].sort();
  const mtable = h('table', { class: 'grid', id: 'compare-metrics' }, head.cloneNode(true),
    h('tbody', {}, mkeys.map((k) => {
      const vals = M.map((m) => m[k]);
      const nums = vals.filter((v) => typeof v === 'number');
      const lo = Math.min(...nums), hi = Math.max(...nums);
      return h('tr', { class: differs(vals) ? 'diff' : '' }, h('th', { scope: 'row' }, k), vals.map((v) => h('td', { class: 'num', title: v === hi ? 'highest' : v === lo ? 'lowest' : '' }, v === undefined ? '—' : fmtNum(v), nums.length > 1 && v === hi ? ' ▲' : nums.length > 1 && v === lo ? ' ▼' : '')));
    })));
  el.append(h('section', { class: 'section' }, h('h2', {}, `Metrics (${mkeys.length})`), h('p', { class: 'chart-note' }, '▲ highest, ▼ lowest of each row.'), h('div', { class: 'table-wrap', style: 'max-height:380px' }, mtable)));
  keyboardTable(mtable);

  // Overlaid chart
  const chartEl = h('div', { id: 'compare-chart' });
  el.append(h('section', { class: 'section' }, h('h2', {}, 'Metric charts'), mkeys.length ? chartEl : h('p', { class: 'muted' }, 'These runs have no metrics.')));
  if (mkeys.length) {
    metricPanel(chartEl, { runs: runs.map((r, i) => ({ id: r.info.run_id, label: names[i] })), keys: mkeys,
      state: { m: q.get('m'), x: q.get('x'), log: q.get('log'), sm: q.get('sm') }, onState: replaceQuery });
  }

  // Scatter of any param/metric against any other
  const axes = [...mkeys.map((k) => `metrics:${k}`), ...pkeys.map((k) => `params:${k}`), ...[...new Set(T.flatMap(Object.keys))].sort().map((k) => `tags:${k}`)];
  const valueOf = (ax, i) => {
    const [kind, ...rest] = ax.split(':'); const k = rest.join(':');
    const src = kind === 'metrics' ? M[i] : kind === 'params' ? P[i] : T[i];
    const v = src[k];
    return v === undefined ? NaN : Number(v);
  };
  const numericAxes = axes.filter((a) => runs.some((_, i) => isFinite(valueOf(a, i))));
  let sxv = q.get('sx') || numericAxes.find((a) => a.startsWith('params:')) || numericAxes[0];
  let syv = q.get('sy') || numericAxes.find((a) => a.startsWith('metrics:') && a !== sxv) || numericAxes[1] || numericAxes[0];
  const plot = h('div', { class: 'scatter', id: 'compare-scatter' });
  const draw = () => scatter(plot, runs.map((r, i) => ({ x: valueOf(sxv, i), y: valueOf(syv, i), label: names[i], color: COLORS[i % COLORS.length] })), sxv.replace(':', '.'), syv.replace(':', '.'));
  const sel = (id, cur, set) => h('select', { id, onchange: (e) => { set(e.target.value); draw(); } }, axes.map((a) => h('option', { value: a, selected: a === cur }, a.replace(':', '.'))));
  el.append(h('section', { class: 'section' }, h('h2', {}, 'Scatter'),
    numericAxes.length ? [h('div', { class: 'toolbar' },
      h('label', {}, 'X ', sel('scatter-x', sxv, (v) => { sxv = v; replaceQuery({ sx: v }); })),
      h('label', {}, 'Y ', sel('scatter-y', syv, (v) => { syv = v; replaceQuery({ sy: v }); }))), plot] : h('p', { class: 'muted' }, 'No numeric params or metrics to plot.')));
  if (numericAxes.length) draw();
}
