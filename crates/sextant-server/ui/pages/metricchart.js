// A metric chart panel: metric picker, x axis, log scale, smoothing, zoom; one or more runs
// overlaid. Points come downsampled from the server (min/max per bucket), refetched on zoom.

import { h, sextant, COLORS, showError } from '../util.js';
import { LineChart, chartPoints } from '../chart.js';

/**
 * @param {HTMLElement} el where the panel goes
 * @param {{runs: {id, label}[], keys: string[], state: {m, x, log, sm}, onState(patch)}} o
 */
export function metricPanel(el, o) {
  const st = { m: o.state.m || o.keys[0], x: o.state.x === 'time' ? 'time' : 'step', log: !!o.state.log, sm: Number(o.state.sm) || 0 };
  const keySel = h('select', { id: 'chart-metric', 'aria-label': 'Metric to chart', onchange: (e) => { st.m = e.target.value; o.onState({ m: st.m }); load(null, null); } },
    o.keys.map((k) => h('option', { value: k, selected: k === st.m }, k)));
  const axisSel = h('select', { id: 'chart-axis', 'aria-label': 'X axis', onchange: (e) => { st.x = e.target.value; o.onState({ x: st.x }); chart.view = null; chart.set({ axis: st.x }); load(null, null); } },
    h('option', { value: 'step', selected: st.x === 'step' }, 'step'), h('option', { value: 'time', selected: st.x === 'time' }, 'time'));
  const logBox = h('input', { type: 'checkbox', id: 'chart-log', checked: st.log, onchange: (e) => { st.log = e.target.checked; o.onState({ log: st.log ? '1' : '' }); chart.set({ logY: st.log }); } });
  const smRange = h('input', { type: 'range', id: 'chart-smoothing', min: 0, max: 0.99, step: 0.01, value: st.sm, 'aria-label': 'Smoothing',
    oninput: (e) => { st.sm = Number(e.target.value); smOut.textContent = st.sm.toFixed(2); chart.set({ smoothing: st.sm }); },
    onchange: () => o.onState({ sm: st.sm ? st.sm.toFixed(2) : '' }) });
  const smOut = h('output', {}, st.sm.toFixed(2));
  const info = h('span', { class: 'chart-note', id: 'chart-info' });
  const reset = h('button', { class: 'secondary', onclick: () => chart.resetZoom() }, 'Reset zoom');
  const box = h('div', {});
  el.replaceChildren(h('div', { class: 'toolbar' }, h('label', {}, 'Metric ', keySel), h('label', {}, 'X axis ', axisSel),
    h('label', {}, logBox, ' Log scale'), h('label', {}, 'Smoothing ', smRange, ' ', smOut), reset, info), box);
  const chart = new LineChart(box, { axis: st.x, logY: st.log, smoothing: st.sm, onZoom: (a, b) => load(a, b) });
  let seq = 0;
  async function load(from, to) {
    const mine = ++seq;
    const width = Math.max(200, Math.min(2000, Math.round(box.clientWidth || 900)));
    try {
      const res = await Promise.all(o.runs.map((r) => chartPoints(sextant, r.id, st.m, { axis: st.x, points: width, from, to })
        .catch((e) => { if (e.code === 'RESOURCE_DOES_NOT_EXIST') return { total: 0, points: [] }; throw e; })));
      if (mine !== seq) return;
      const series = o.runs.map((r, i) => ({ label: r.label, color: COLORS[i % COLORS.length], points: res[i].points,
        note: res[i].total > res[i].points.length ? `${res[i].total.toLocaleString('en')} points in ${res[i].points.length} buckets` : `${res[i].total} points` }))
        .filter((s) => s.points.length || o.runs.length === 1);
      const total = res.reduce((n, r) => n + r.total, 0);
      info.textContent = `${total.toLocaleString('en')} points${from !== null ? ' in the zoomed range' : ''}; min/max bands show spikes inside buckets. Drag to zoom, double-click to reset.`;
      chart.setData(series);
    } catch (e) {
      showError(e);
    }
  }
  load(null, null);
  return chart;
}
