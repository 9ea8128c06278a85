//! The self-contained HTML report: inline CSS and SVG, no script, no network.

use std::fmt::Write as _;

use sextant_stats::{MetricResult, ProblemResult, Profile, Summary, Verdict};

use super::Report;
use super::render::{difference, num, pval};

const BASE: &str = "#4a6fa5";
const CAND: &str = "#e07b39";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Regressed => "regressed",
        Verdict::NoSignificantChange => "nochange",
        Verdict::Underpowered => "underpowered",
    }
}

/// Two horizontal box plots (baseline above, candidate below) on one axis.
fn boxes(p: &ProblemResult) -> String {
    let (w, left, right) = (280.0, 8.0, 8.0);
    let lo = p.baseline.min.min(p.candidate.min);
    let hi = p.baseline.max.max(p.candidate.max);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let x = |v: f64| left + (v - lo) / (hi - lo) * (w - left - right);
    let mut s = format!(
        "<svg class=\"box\" width=\"{w}\" height=\"58\" viewBox=\"0 0 {w} 58\" role=\"img\" \
         aria-label=\"box plots of {}\">",
        esc(&p.problem)
    );
    let row = |s: &mut String, sm: &Summary, y: f64, color: &str, label: &str| {
        let _ = write!(
            s,
            "<g><title>{label}: n={} min={} q1={} median={} q3={} max={}</title>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{color}\"/>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\" \
             fill-opacity=\"0.35\" stroke=\"{color}\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" \
             stroke-width=\"2.5\"/></g>",
            sm.n,
            num(sm.min),
            num(sm.q1),
            num(sm.median),
            num(sm.q3),
            num(sm.max),
            x(sm.min),
            x(sm.max),
            x(sm.q1),
            y - 7.0,
            (x(sm.q3) - x(sm.q1)).max(1.0),
            x(sm.median),
            x(sm.median),
            y - 7.0,
            y + 7.0,
        );
    };
    row(&mut s, &p.baseline, 12.0, BASE, "baseline");
    row(&mut s, &p.candidate, 32.0, CAND, "candidate");
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"54\" class=\"tick\">{}</text>\
         <text x=\"{}\" y=\"54\" class=\"tick\" text-anchor=\"end\">{}</text></svg>",
        num(lo),
        w - right,
        num(hi)
    );
    s
}

/// The difference of medians with its interval, on an axis centred at zero.
fn diff_plot(p: &ProblemResult) -> String {
    let d = &p.difference;
    let m = d.low.abs().max(d.high.abs()).max(d.estimate.abs());
    let m = if m > 0.0 { m } else { 1.0 };
    let x = |v: f64| 100.0 + v / m * 90.0;
    let color = match p.verdict {
        Verdict::Improved => "#2e7d32",
        Verdict::Regressed => "#c62828",
        _ => "#555",
    };
    format!(
        "<svg class=\"diff\" width=\"200\" height=\"30\" viewBox=\"0 0 200 30\" role=\"img\" \
         aria-label=\"difference of medians\"><title>candidate - baseline median: {} \
         (interval {} to {})</title>\
         <line x1=\"100\" x2=\"100\" y1=\"2\" y2=\"28\" stroke=\"#999\" stroke-dasharray=\"3,2\"/>\
         <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"15\" y2=\"15\" stroke=\"{color}\" stroke-width=\"3\"/>\
         <circle cx=\"{:.1}\" cy=\"15\" r=\"4\" fill=\"{color}\"/></svg>",
        num(d.estimate),
        num(d.low),
        num(d.high),
        x(d.low),
        x(d.high),
        x(d.estimate)
    )
}

/// Step curves of `rho(tau)` for both sides.
fn profile_plot(p: &Profile) -> String {
    let (w, h, ml, mr, mt, mb) = (520.0, 280.0, 48.0, 16.0, 12.0, 40.0);
    let tmax = if p.max_ratio() > 1.0 {
        p.max_ratio() * 1.05
    } else {
        2.0
    };
    let x = |t: f64| ml + (t - 1.0) / (tmax - 1.0) * (w - ml - mr);
    let y = |r: f64| mt + (1.0 - r) * (h - mt - mb);
    let mut s = format!(
        "<svg class=\"profile\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"performance profile\">\
         <line x1=\"{ml}\" x2=\"{ml}\" y1=\"{mt}\" y2=\"{}\" stroke=\"#333\"/>\
         <line x1=\"{ml}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#333\"/>",
        h - mb,
        w - mr,
        h - mb,
        h - mb
    );
    for i in 0..=4 {
        let r = f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{r:.2}</text>\
             <line x1=\"{ml}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            ml - 4.0,
            y(r) + 4.0,
            w - mr,
            y(r),
            y(r)
        );
        let t = 1.0 + (tmax - 1.0) * r;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            x(t),
            h - mb + 14.0,
            num(t)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">tau (ratio to the better \
         side's median)</text>\
         <text x=\"12\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 12 {})\" \
         text-anchor=\"middle\">fraction of problems</text>",
        (ml + w - mr) / 2.0,
        h - 6.0,
        (mt + h - mb) / 2.0,
        (mt + h - mb) / 2.0
    );
    for (side, color, label) in [(0, BASE, "baseline"), (1, CAND, "candidate")] {
        let mut pts = vec![(1.0, p.rho(side, 1.0))];
        let mut last = p.rho(side, 1.0);
        for &r in p.ratios[side].iter().filter(|r| **r > 1.0) {
            let now = p.rho(side, r);
            if now != last {
                pts.push((r, last));
                pts.push((r, now));
                last = now;
            }
        }
        pts.push((tmax, last));
        let path: Vec<String> = pts
            .iter()
            .map(|(t, r)| format!("{:.1},{:.1}", x(*t), y(*r)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" points=\"{}\"><title>{label}</title></polyline>",
            path.join(" ")
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{BASE}\"/><text x=\"{}\" y=\"{}\" class=\"tick\">baseline</text>\
         <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{CAND}\"/><text x=\"{}\" y=\"{}\" class=\"tick\">candidate</text></svg>",
        w - 120.0,
        h - mb - 36.0,
        w - 104.0,
        h - mb - 31.0,
        w - 120.0,
        h - mb - 20.0,
        w - 104.0,
        h - mb - 15.0
    );
    s
}

fn metric_section(m: &MetricResult, out: &mut String) {
    let _ = write!(
        out,
        "<section><h2>{} <small>({})</small> <span class=\"v {}\">{}</span></h2><p>{}</p>",
        esc(&m.metric),
        if m.direction == sextant_stats::Direction::Minimize {
            "smaller is better"
        } else {
            "larger is better"
        },
        verdict_class(m.verdict),
        esc(m.verdict.label()),
        esc(&m.reason)
    );
    if let Some(n) = &m.per_problem_note {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(n));
    }
    let _ = write!(
        out,
        "<table><thead><tr><th>problem</th><th>runs <span style=\"color:{BASE}\">■ baseline</span> / \
         <span style=\"color:{CAND}\">■ candidate</span></th><th>median C − B, {}% interval</th>\
         <th>diff [interval]</th><th>p</th><th>p (Holm)</th><th>A12</th><th>verdict</th></tr></thead><tbody>",
        num(100.0 * m.problems.first().map_or(0.95, |p| p.difference.level))
    );
    for p in &m.problems {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{:.2} ({})</td><td class=\"v {}\">{}</td></tr>",
            esc(&p.problem),
            boxes(p),
            diff_plot(p),
            esc(&difference(p)),
            pval(p.mann_whitney.p_value),
            pval(p.p_adjusted),
            p.a12,
            p.magnitude.label(),
            verdict_class(p.verdict),
            esc(match p.verdict {
                Verdict::Underpowered => "too few seeds",
                v => v.label(),
            })
        );
    }
    out.push_str("</tbody></table>");
    let _ = write!(
        out,
        "<h3>Performance profile</h3><p class=\"small\">Fraction of problems on which a side's \
         median is within a factor tau of the better median (Dolan and Moré 2002).</p>"
    );
    match (&m.profile, &m.profile_note) {
        (Some(p), _) => out.push_str(&profile_plot(p)),
        (None, Some(n)) => {
            let _ = write!(out, "<p class=\"note\">No profile: {}</p>", esc(n));
        }
        (None, None) => {}
    }
    out.push_str("</section>");
}

pub(crate) fn report(r: &Report<'_>) -> String {
    let c = r.comparison;
    let [b, cand] = r.sides;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>sextant compare: {}</title><style>{CSS}</style></head><body>\
         <h1>sextant compare <span class=\"v {}\">{}</span></h1>\
         <dl><dt>baseline</dt><dd><code>{}</code> ({} runs)</dd>\
         <dt>candidate</dt><dd><code>{}</code> ({} runs)</dd>\
         <dt>grouped by</dt><dd><code>{}</code></dd>\
         <dt>settings</dt><dd>alpha {} (Holm over {} per-problem tests and {} metrics), minimum \
         effect A12 {}, bootstrap {} resamples, seed {}</dd>{}</dl>",
        esc(r.verdict),
        match r.verdict {
            "regressed" => "regressed",
            "improved" => "improved",
            "underpowered" => "underpowered",
            _ => "nochange",
        },
        esc(&r.verdict.replace('_', " ")),
        esc(&b.selector),
        b.runs.len(),
        esc(&cand.selector),
        cand.runs.len(),
        esc(r.by),
        c.settings.alpha,
        c.per_problem_tests,
        c.metrics.len(),
        c.settings.min_effect,
        c.settings.resamples,
        c.settings.seed,
        r.stored_run
            .as_ref()
            .map(|id| format!(
                "<dt>stored as</dt><dd>run <code>{}</code> in experiment <code>comparisons</code></dd>",
                esc(id)
            ))
            .unwrap_or_default()
    );
    out.push_str(
        "<table><thead><tr><th>metric</th><th>verdict</th><th>problems</th><th>wins / ties / \
         losses</th><th>signed-rank p (Holm)</th><th>mean A12</th></tr></thead><tbody>",
    );
    for m in &c.metrics {
        let _ = write!(
            out,
            "<tr><td>{}:{}</td><td class=\"v {}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} / {} / {}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{:.2}</td></tr>",
            esc(&m.metric),
            m.direction.label(),
            verdict_class(m.verdict),
            esc(m.verdict.label()),
            m.suite.problems,
            m.suite.wins,
            m.suite.ties,
            m.suite.losses,
            pval(m.suite.p_adjusted),
            m.suite.mean_a12
        );
    }
    out.push_str("</tbody></table>");
    for m in &c.metrics {
        metric_section(m, &mut out);
    }
    let s = r.selection;
    if !s.excluded.is_empty() || !s.one_sided.is_empty() {
        out.push_str("<section><h2>Left out</h2><ul>");
        for e in &s.excluded {
            let _ = write!(
                out,
                "<li>{} run <code>{}</code> ({}){}: {}</li>",
                e.side,
                esc(&e.run_id),
                esc(&e.run_name),
                e.problem
                    .as_ref()
                    .map(|p| format!(", problem {}", esc(p)))
                    .unwrap_or_default(),
                esc(&e.reason)
            );
        }
        for o in &s.one_sided {
            let _ = write!(
                out,
                "<li>problem {} ({}): measured on the {} only</li>",
                esc(&o.problem),
                esc(&o.metric),
                o.present_on
            );
        }
        out.push_str("</ul></section>");
    }
    out.push_str(
        "<footer>Per problem: Mann-Whitney U (exact for small untied samples, else normal with tie \
         correction), Vargha-Delaney A12, percentile bootstrap of the difference of medians. \
         Across problems: Wilcoxon signed-rank on the per-problem medians. Holm correction. See \
         docs/compare.md.</footer></body></html>\n",
    );
    out
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px}small{color:#666;font-weight:normal}\
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}\
td.n{text-align:right;font-variant-numeric:tabular-nums}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#666}dd{margin:0}\
.v{font-weight:600;padding:1px 6px;border-radius:3px}.improved{color:#1b5e20;background:#e8f5e9}\
.regressed{color:#b71c1c;background:#ffebee}.underpowered{color:#8a6d00;background:#fff8e1}.nochange{color:#444;background:#f1f1f1}\
.note{background:#fff8e1;padding:6px 10px;border-left:3px solid #e0b000}.small{color:#666;font-size:12px}\
.tick{font-size:10px;fill:#555}.axis{font-size:11px;fill:#333}footer{margin-top:32px;color:#666;font-size:12px}";
