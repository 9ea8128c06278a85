//! The comparison as a terminal table and as Markdown for a pull-request comment.

use std::fmt::Write as _;

use sextant_stats::{MetricResult, Verdict};

use super::Report;

/// A number in a short, readable form.
pub(crate) fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_owned()
    }
}

pub(crate) fn pval(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", num(v))
    } else {
        num(v)
    }
}

pub(crate) fn difference(p: &sextant_stats::ProblemResult) -> String {
    format!(
        "{} [{}, {}]",
        signed(p.difference.estimate),
        signed(p.difference.low),
        signed(p.difference.high)
    )
}

fn short(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Regressed => "regressed",
        Verdict::NoSignificantChange => "no change",
        Verdict::Underpowered => "underpowered",
    }
}

fn paint(s: &str, v: Verdict, color: bool) -> String {
    if !color {
        return s.to_owned();
    }
    let code = match v {
        Verdict::Improved => "32",
        Verdict::Regressed => "31",
        Verdict::NoSignificantChange => "0",
        Verdict::Underpowered => "33",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Column-aligned rows; `verdicts[i]` colours the last column of row `i`.
fn table(headers: &[&str], rows: &[Vec<String>], verdicts: &[Verdict], color: bool) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], v: Option<Verdict>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                match v {
                    Some(v) => l.push_str(&paint(c, v, color)),
                    None => l.push_str(c),
                }
            } else {
                let pad = widths[i] - c.chars().count();
                let _ = write!(l, "{c}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    let h: Vec<String> = headers.iter().map(|s| (*s).to_owned()).collect();
    line(&h, None, &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule, None, &mut out);
    for (r, v) in rows.iter().zip(verdicts) {
        line(r, Some(*v), &mut out);
    }
    out
}

fn problem_rows(m: &MetricResult) -> Vec<Vec<String>> {
    m.problems
        .iter()
        .map(|p| {
            vec![
                p.problem.clone(),
                format!("{}/{}", p.baseline.n, p.candidate.n),
                num(p.baseline.median),
                num(p.candidate.median),
                difference(p),
                pval(p.mann_whitney.p_value),
                pval(p.p_adjusted),
                format!("{:.2}", p.a12),
                short(p.verdict).to_owned(),
            ]
        })
        .collect()
}

const PROBLEM_HEADERS: [&str; 9] = [
    "PROBLEM",
    "RUNS B/C",
    "MEDIAN B",
    "MEDIAN C",
    "DIFF C-B [CI]",
    "P",
    "P HOLM",
    "A12",
    "VERDICT",
];

fn headline(r: &Report<'_>) -> String {
    match r.verdict {
        "regressed" => "REGRESSED: at least one metric is significantly worse".into(),
        "improved" => "IMPROVED: at least one metric is significantly better, none worse".into(),
        "underpowered" => "UNDERPOWERED: the suite is too small to detect a change at alpha".into(),
        _ => "NO SIGNIFICANT CHANGE".into(),
    }
}

pub(crate) fn terminal(r: &Report<'_>, color: bool) -> String {
    let c = r.comparison;
    let mut out = String::new();
    let [b, cand] = r.sides;
    let _ = writeln!(out, "baseline:  {} ({} runs)", b.selector, b.runs.len());
    let _ = writeln!(
        out,
        "candidate: {} ({} runs)",
        cand.selector,
        cand.runs.len()
    );
    let _ = writeln!(out, "grouped by {}\n", r.by);
    let rows: Vec<Vec<String>> = c
        .metrics
        .iter()
        .map(|m| {
            vec![
                format!("{}:{}", m.metric, m.direction.label()),
                m.suite.problems.to_string(),
                format!("{}/{}/{}", m.suite.wins, m.suite.ties, m.suite.losses),
                pval(m.suite.p_adjusted),
                format!("{:.2}", m.suite.mean_a12),
                m.verdict.label().to_owned(),
            ]
        })
        .collect();
    let verdicts: Vec<Verdict> = c.metrics.iter().map(|m| m.verdict).collect();
    out.push_str(&table(
        &[
            "METRIC",
            "PROBLEMS",
            "W/T/L",
            "P (SIGNED-RANK, HOLM)",
            "MEAN A12",
            "VERDICT",
        ],
        &rows,
        &verdicts,
        color,
    ));
    for m in &c.metrics {
        let _ = writeln!(
            out,
            "\n{} ({}): {}",
            m.metric,
            m.direction.label(),
            m.reason
        );
        let v: Vec<Verdict> = m.problems.iter().map(|p| p.verdict).collect();
        out.push_str(&table(&PROBLEM_HEADERS, &problem_rows(m), &v, color));
        if let Some(n) = &m.per_problem_note {
            let _ = writeln!(out, "note: {n}");
        }
    }
    excluded_text(r, &mut out, "");
    let _ = writeln!(
        out,
        "\nalpha {} (Holm), min effect A12 {}, bootstrap {} resamples, seed {}",
        c.settings.alpha, c.settings.min_effect, c.settings.resamples, c.settings.seed
    );
    if let Some(id) = &r.stored_run {
        let _ = writeln!(out, "stored as run {id} in experiment 'comparisons'");
    }
    let _ = writeln!(out, "\n{}", headline(r));
    out
}

fn excluded_text(r: &Report<'_>, out: &mut String, bullet: &str) {
    let s = r.selection;
    if !s.excluded.is_empty() {
        let _ = writeln!(out, "\nruns left out ({}):", s.excluded.len());
        for e in &s.excluded {
            let _ = writeln!(
                out,
                "{bullet}  {} {} ({}){}: {}",
                e.side,
                e.run_id,
                e.run_name,
                e.problem
                    .as_ref()
                    .map(|p| format!(", problem {p}"))
                    .unwrap_or_default(),
                e.reason
            );
        }
    }
    if !s.one_sided.is_empty() {
        let _ = writeln!(out, "\nproblems on one side only ({}):", s.one_sided.len());
        for o in &s.one_sided {
            let _ = writeln!(
                out,
                "{bullet}  {} ({}): only the {} has it",
                o.problem, o.metric, o.present_on
            );
        }
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(crate) fn markdown(r: &Report<'_>) -> String {
    let c = r.comparison;
    let [b, cand] = r.sides;
    let mut out = String::new();
    let _ = writeln!(out, "## sextant compare: {}\n", headline(r));
    let _ = writeln!(
        out,
        "- **baseline**: `{}` ({} runs)\n- **candidate**: `{}` ({} runs)\n- grouped by `{}`\n",
        md_escape(&b.selector),
        b.runs.len(),
        md_escape(&cand.selector),
        cand.runs.len(),
        md_escape(r.by)
    );
    let _ = writeln!(
        out,
        "| metric | verdict | problems | wins / ties / losses | signed-rank p (Holm) | mean A12 |\n|---|---|---:|---:|---:|---:|"
    );
    for m in &c.metrics {
        let _ = writeln!(
            out,
            "| {}:{} | **{}** | {} | {} / {} / {} | {} | {:.2} |",
            md_escape(&m.metric),
            m.direction.label(),
            m.verdict.label(),
            m.suite.problems,
            m.suite.wins,
            m.suite.ties,
            m.suite.losses,
            pval(m.suite.p_adjusted),
            m.suite.mean_a12
        );
    }
    for m in &c.metrics {
        let _ = writeln!(
            out,
            "\n### {} ({})\n\n{}\n",
            md_escape(&m.metric),
            m.direction.label(),
            md_escape(&m.reason)
        );
        let _ = writeln!(
            out,
            "| problem | runs B/C | median B | median C | diff C−B [CI] | p | p (Holm) | A12 | verdict |\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for row in problem_rows(m) {
            let cells: Vec<String> = row.iter().map(|c| md_escape(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if let Some(n) = &m.per_problem_note {
            let _ = writeln!(out, "\n> {}", md_escape(n));
        }
    }
    let mut ex = String::new();
    excluded_text(r, &mut ex, "-");
    if !ex.is_empty() {
        out.push_str(&ex);
    }
    let _ = writeln!(
        out,
        "\n<sub>Mann-Whitney U per problem, Wilcoxon signed-rank across problems, Holm-corrected at alpha {}; min effect A12 {}; bootstrap {} resamples, seed {}{}.</sub>",
        c.settings.alpha,
        c.settings.min_effect,
        c.settings.resamples,
        c.settings.seed,
        r.stored_run
            .as_ref()
            .map(|id| format!("; stored as run `{id}`"))
            .unwrap_or_default()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(123_456.0), "1.235e5");
        assert_eq!(signed(0.25), "+0.25");
        assert_eq!(pval(0.00001), "1.0e-5");
    }
}
