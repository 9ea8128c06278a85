// Charts drawn by hand on a canvas: metric vs step or time, several series overlaid, log
// scale, smoothing (exponential moving average), drag-to-zoom, and min/max bands from the
// server's downsampled buckets so that spikes stay visible. Also an SVG scatter plot.

import { h, fmtNum, fmtTime } from './util.js';

const PAD = { l: 64, r: 16, t: 12, b: 36 };

/** Tick values about `n` apart, on 1/2/5 steps. */
export function niceTicks(lo, hi, n = 6) {
  if (!isFinite(lo) || !isFinite(hi)) return [];
  if (hi === lo) { hi = lo + 1; lo = lo - 1; }
  const raw = (hi - lo) / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** Exponential moving average, debiased (as TensorBoard does). */
export function smooth(ys, weight) {
  if (!weight) return ys.slice();
  const out = new Array(ys.length);
  let acc = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!isFinite(y)) { out[i] = y; continue; }
    acc = acc * weight + (1 - weight) * y;
    n++;
    out[i] = acc / (1 - Math.pow(weight, n));
  }
  return out;
}

export class LineChart {
  /**
   * @param {HTMLElement} container where the chart goes (emptied).
   * @param {object} opts {axis: 'step'|'time', logY, smoothing, onZoom(from, to)}
   */
  constructor(container, opts = {}) {
    this.opts = { axis: 'step', logY: false, smoothing: 0, onZoom: null, ...opts };
    this.series = [];
    this.view = null; // {x0, x1} when zoomed
    this.canvas = h('canvas', { tabindex: 0, role: 'img', 'aria-label': 'Metric chart. Drag to zoom, double-click or Escape to reset.' });
    this.tip = h('div', { class: 'chart-tip', hidden: true });
    this.empty = h('div', { class: 'chart-empty', hidden: true }, 'No points to draw.');
    this.legend = h('div', { class: 'chart-legend' });
    this.root = h('div', { class: 'chart-box' }, h('div', { class: 'chart-wrap' }, this.canvas, this.tip), this.empty, this.legend);
    container.replaceChildren(this.root);
    this.drag = null;
    this.canvas.addEventListener('mousedown', (e) => { this.drag = { x: this.px(e), cur: this.px(e) }; });
    window.addEventListener('mouseup', (e) => this.endDrag(e));
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; if (!this.drag) this.draw(); });
    this.canvas.addEventListener('dblclick', () => this.resetZoom());
    this.canvas.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.resetZoom(); });
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.canvas);
  }

  px(e) { const r = this.canvas.getBoundingClientRect(); return e.clientX - r.left; }

  /** series: [{label, color, points: [{x, y, min, max}]}], points sorted by x. */
  setData(series) {
    this.series = series;
    const total = series.reduce((n, s) => n + s.points.length, 0);
    this.root.dataset.points = String(total);
    this.root.dataset.series = String(series.length);
    this.empty.hidden = total > 0;
    this.canvas.hidden = total === 0;
    this.legend.replaceChildren(...series.map((s) => h('span', {}, h('span', { class: 'sw', style: `background:${s.color}` }), s.label,
      s.note ? h('span', { class: 'chart-note' }, ` (${s.note})`) : null)));
    this.draw();
  }

  set(opts) { Object.assign(this.opts, opts); this.draw(); }

  resetZoom() {
    if (!this.view) return;
    this.view = null;
    if (this.opts.onZoom) this.opts.onZoom(null, null); else this.draw();
  }

  endDrag(e) {
    if (!this.drag) return;
    const d = this.drag;
    this.drag = null;
    const x2 = this.px(e);
    if (Math.abs(x2 - d.x) < 6 || !this.scale) { this.draw(); return; }
    const a = this.scale.inv(Math.min(d.x, x2)), b = this.scale.inv(Math.max(d.x, x2));
    this.view = { x0: a, x1: b };
    if (this.opts.onZoom) this.opts.onZoom(a, b); else this.draw();
  }

  ty(v) { return this.opts.logY ? (v > 0 ? Math.log10(v) : NaN) : v; }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth, hgt = c.clientHeight;
    if (!w || !hgt || c.hidden) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(hgt * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const visible = (p) => !this.view || (p.x >= this.view.x0 && p.x <= this.view.x1);
    const prepared = this.series.map((s) => {
      const ys = smooth(s.points.map((p) => p.y), this.opts.smoothing);
      return { ...s, ys };
    });
    for (const s of prepared) {
      s.points.forEach((p, i) => {
        if (!visible(p)) return;
        x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x);
        for (const v of [p.min, p.max, s.ys[i]]) {
          const t = this.ty(v);
          if (isFinite(t)) { y0 = Math.min(y0, t); y1 = Math.max(y1, t); }
        }
      });
    }
    if (this.view) { x0 = this.view.x0; x1 = this.view.x1; }
    if (!isFinite(x0) || !isFinite(y0)) {
      g.fillStyle = '#4b5565'; g.font = '13px sans-serif';
      g.fillText(this.opts.logY ? 'No positive values to draw on a log scale.' : 'No points in this range.', PAD.l + 10, 30);
      this.scale = null;
      return;
    }
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { y0 -= Math.abs(y0) * 0.05 || 1; y1 += Math.abs(y1) * 0.05 || 1; }
    const yPad = (y1 - y0) * 0.04; y0 -= yPad; y1 += yPad;
    const pw = w - PAD.l - PAD.r, ph = hgt - PAD.t - PAD.b;
    const sx = (x) => PAD.l + ((x - x0) / (x1 - x0)) * pw;
    const sy = (t) => PAD.t + ph - ((t - y0) / (y1 - y0)) * ph;
    this.scale = { sx, sy, inv: (px) => x0 + ((px - PAD.l) / pw) * (x1 - x0), x0, x1 };
    // grid and axes
    g.strokeStyle = '#e3e7ed'; g.fillStyle = '#4b5565'; g.font = '12px sans-serif'; g.lineWidth = 1;
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (const t of niceTicks(y0, y1, 6)) {
      const y = sy(t); g.beginPath(); g.moveTo(PAD.l, y); g.lineTo(w - PAD.r, y); g.stroke();
      g.fillText(this.opts.logY ? fmtNum(Math.pow(10, t)) : fmtNum(t), PAD.l - 6, y);
    }
    g.textAlign = 'center'; g.textBaseline = 'top';
    const xt = niceTicks(x0, x1, Math.max(2, Math.floor(pw / 110)));
    for (const t of xt) {
      const x = sx(t); g.beginPath(); g.moveTo(x, PAD.t); g.lineTo(x, PAD.t + ph); g.stroke();
      g.fillText(this.opts.axis === 'time' ? fmtTime(t).slice(11) : fmtNum(t), x, PAD.t + ph + 6);
    }
    g.strokeStyle = '#8a94a6'; g.strokeRect(PAD.l, PAD.t, pw, ph);
    g.fillText(this.opts.axis === 'time' ? 'time' : 'step', PAD.l + pw / 2, hgt - 14);
    g.save(); g.beginPath(); g.rect(PAD.l, PAD.t, pw, ph); g.clip();
    for (const s of prepared) {
      // min/max band: where a bucket holds several points, its extremes
      g.fillStyle = s.color; g.globalAlpha = 0.18;
      g.beginPath();
      let open = false;
      const band = s.points.filter((p) => isFinite(this.ty(p.min)) && isFinite(this.ty(p.max)));
      band.forEach((p, i) => { const x = sx(p.x); if (!open) { g.moveTo(x, sy(this.ty(p.max))); open = true; } else g.lineTo(x, sy(this.ty(p.max))); void i; });
      for (let i = band.length - 1; i >= 0; i--) g.lineTo(sx(band[i].x), sy(this.ty(band[i].min)));
      if (open) { g.closePath(); g.fill(); }
      // spikes within a bucket: vertical min–max strokes
      g.globalAlpha = 0.5; g.strokeStyle = s.color; g.lineWidth = 1;
      g.beginPath();
      for (const p of band) if (p.max !== p.min) { const x = sx(p.x); g.moveTo(x, sy(this.ty(p.min))); g.lineTo(x, sy(this.ty(p.max))); }
      g.stroke();
      if (this.opts.smoothing) { this.line(g, s.points.map((p) => p.y), s, sx, sy, 0.3, 1); }
      this.line(g, s.ys, s, sx, sy, 1, 2);
      if (s.points.length <= 60) {
        g.globalAlpha = 1; g.fillStyle = s.color;
        s.points.forEach((p, i) => { const t = this.ty(s.ys[i]); if (isFinite(t)) { g.beginPath(); g.arc(sx(p.x), sy(t), 2.5, 0, 7); g.fill(); } });
      }
    }
    g.restore();
    g.globalAlpha = 1;
    if (this.drag) {
      g.fillStyle = 'rgba(31, 95, 168, .15)';
      g.fillRect(Math.min(this.drag.x, this.drag.cur), PAD.t, Math.abs(this.drag.cur - this.drag.x), ph);
    }
  }

  line(g, ys, s, sx, sy, alpha, width) {
    g.globalAlpha = alpha; g.strokeStyle = s.color; g.lineWidth = width; g.lineJoin = 'round';
    g.beginPath();
    let pen = false;
    s.points.forEach((p, i) => {
      const t = this.ty(ys[i]);
      if (!isFinite(t)) { pen = false; return; }
      const x = sx(p.x), y = sy(t);
      if (pen) g.lineTo(x, y); else { g.moveTo(x, y); pen = true; }
    });
    g.stroke();
  }

  hover(e) {
    if (!this.scale) return;
    const px = this.px(e);
    if (this.drag) { this.drag.cur = px; this.draw(); return; }
    const x = this.scale.inv(px);
    const rows = [];
    for (const s of this.series) {
      if (!s.points.length) continue;
      let lo = 0, hi = s.points.length - 1;
      while (lo < hi) { const m = (lo + hi) >> 1; if (s.points[m].x < x) lo = m + 1; else hi = m; }
      const cand = [s.points[lo], s.points[lo - 1]].filter(Boolean);
      const p = cand.reduce((a, b) => (Math.abs(b.x - x) < Math.abs(a.x - x) ? b : a));
      rows.push(h('div', {}, h('span', { class: 'sw', style: `background:${s.color}` }), `${s.label}: ${fmtNum(p.y)}`,
        p.max !== p.min ? ` [${fmtNum(p.min)} … ${fmtNum(p.max)}]` : '', ` @ ${this.opts.axis === 'time' ? fmtTime(p.x) : fmtNum(p.x)}`));
    }
    this.tip.replaceChildren(...rows);
    this.tip.hidden = !rows.length;
    const r = this.canvas.getBoundingClientRect();
    this.tip.style.left = Math.min(px + 14, r.width - 260) + 'px';
    this.tip.style.top = (e.clientY - r.top + 14) + 'px';
  }
}

/** Fetch one metric of one run as chart points (server-side min/max downsampling). */
export async function chartPoints(sextantApi, runId, key, { axis = 'step', points = 800, from = null, to = null } = {}) {
  const r = await sextantApi(`runs/${encodeURIComponent(runId)}/chart`, { query: { key, x: axis, points, from, to } });
  return {
    total: r.total_points,
    points: r.buckets.map((b) => ({ x: b.x, y: num(b.last), min: num(b.min), max: num(b.max), count: b.count })),
  };
}

const num = (v) => (typeof v === 'number' ? v : Number(v));

/** A scatter plot (SVG) of points {x, y, label, color}. */
export function scatter(container, pts, xLabel, yLabel) {
  const W = 720, H = 360, L = 70, R = 20, T = 16, B = 44;
  const ns = 'http://www.w3.org/2000/svg';
  const s = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e; };
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${yLabel} against ${xLabel}` });
  const ok = pts.filter((p) => isFinite(p.x) && isFinite(p.y));
  container.replaceChildren(svg);
  container.dataset.points = String(ok.length);
  if (!ok.length) {
    svg.append(s('text', { x: L, y: 40, fill: '#a61b1b' }, `No run has numeric values for both ${xLabel} and ${yLabel}.`));
    return;
  }
  let [x0, x1] = [Math.min(...ok.map((p) => p.x)), Math.max(...ok.map((p) => p.x))];
  let [y0, y1] = [Math.min(...ok.map((p) => p.y)), Math.max(...ok.map((p) => p.y))];
  if (x0 === x1) { x0 -= 1; x1 += 1; } if (y0 === y1) { y0 -= 1; y1 += 1; }
  const dx = (x1 - x0) * 0.06, dy = (y1 - y0) * 0.08; x0 -= dx; x1 += dx; y0 -= dy; y1 += dy;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (H - T - B) - ((y - y0) / (y1 - y0)) * (H - T - B);
  for (const t of niceTicks(y0, y1, 6)) { svg.append(s('line', { x1: L, x2: W - R, y1: sy(t), y2: sy(t), stroke: '#e3e7ed' })); svg.append(s('text', { x: L - 6, y: sy(t) + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#4b5565' }, fmtNum(t))); }
  for (const t of niceTicks(x0, x1, 6)) { svg.append(s('line', { y1: T, y2: H - B, x1: sx(t), x2: sx(t), stroke: '#e3e7ed' })); svg.append(s('text', { x: sx(t), y: H - B + 16, 'text-anchor': 'middle', 'font-size': 12, fill: '#4b5565' }, fmtNum(t))); }
  svg.append(s('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#8a94a6' }));
  svg.append(s('text', { x: L + (W - L - R) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 13, fill: '#1a1f29' }, xLabel));
  svg.append(s('text', { x: 14, y: T + (H - T - B) / 2, 'text-anchor': 'middle', 'font-size': 13, fill: '#1a1f29', transform: `rotate(-90 14 ${T + (H - T - B) / 2})` }, yLabel));
  for (const p of ok) {
    const c = s('circle', { cx: sx(p.x), cy: sy(p.y), r: 6, fill: p.color, 'fill-opacity': 0.85, stroke: '#fff' });
    c.append(s('title', {}, `${p.label}: ${xLabel}=${fmtNum(p.x)}, ${yLabel}=${fmtNum(p.y)}`));
    svg.append(c);
    svg.append(s('text', { x: sx(p.x) + 9, y: sy(p.y) + 4, 'font-size': 11, fill: '#1a1f29' }, p.label));
  }
}
