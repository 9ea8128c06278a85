//! Property tests for the search grammar: no input panics, errors point inside the input, and
//! generated valid filters parse back into exactly what was generated.

use proptest::prelude::*;
use sextant_search::{
    CmpOp, Literal, RunAttr, RunField, SearchError, parse_experiment_filter,
    parse_experiment_order_by, parse_logged_model_filter, parse_logged_model_order_by,
    parse_model_version_filter, parse_model_version_order_by, parse_registered_model_filter,
    parse_registered_model_order_by, parse_run_filter, parse_run_order_by,
};

/// Every parser over one input; each error must point inside the input, on char boundaries.
fn check_all(input: &str) {
    let errors: Vec<SearchError> = [
        parse_run_filter(input).err(),
        parse_run_order_by(input).err(),
        parse_experiment_filter(input).err(),
        parse_experiment_order_by(input).err(),
        parse_registered_model_filter(input).err(),
        parse_registered_model_order_by(input).err(),
        parse_model_version_filter(input).err(),
        parse_model_version_order_by(input).err(),
        parse_logged_model_filter(input).err(),
        parse_logged_model_order_by(input).err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for e in errors {
        assert!(!e.message.is_empty(), "empty message for {input:?}");
        if let Some(span) = e.span {
            assert!(
                span.start <= span.end && span.end <= input.len(),
                "span {span:?} outside {input:?} ({} bytes): {e}",
                input.len()
            );
            assert!(
                input.is_char_boundary(span.start) && input.is_char_boundary(span.end),
                "span {span:?} splits a character of {input:?}"
            );
        }
        // Display and the caret rendering never panic either.
        let _ = e.to_string();
    }
}

/// Fragments that look like the grammar, to reach deeper than random bytes do.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("metrics.".to_owned()),
        Just("params.".to_owned()),
        Just("tags.".to_owned()),
        Just("attributes.".to_owned()),
        Just("datasets.".to_owned()),
        Just("`".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just(" AND ".to_owned()),
        Just(" and ".to_owned()),
        Just(" IN ".to_owned()),
        Just(" NOT IN ".to_owned()),
        Just(" LIKE ".to_owned()),
        Just(" ILIKE ".to_owned()),
        Just(" IS NULL".to_owned()),
        Just(" IS NOT NULL".to_owned()),
        Just(" = ".to_owned()),
        Just(" != ".to_owned()),
        Just(" <= ".to_owned()),
        Just(" > ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just(" DESC".to_owned()),
        Just(" ASC".to_owned()),
        "[a-z_]{1,8}",
        "-?[0-9]{1,4}(\\.[0-9]{1,3})?(e-?[0-9])?",
        "[\\PC]{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_strings_never_panic(input in "\\PC{0,60}") {
        check_all(&input);
    }

    #[test]
    fn grammar_like_strings_never_panic(parts in prop::collection::vec(token(), 0..12)) {
        check_all(&parts.concat());
    }
}

/// A generated clause and what it must parse into.
#[derive(Debug, Clone)]
enum Clause {
    Metric(String, CmpOp, f64),
    Param(String, String),
    TagLike(String, String),
    RunIdIn(Vec<String>),
    /// `IN` on params: a Sextant extension.
    ParamIn(String, Vec<String>),
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,10}"
}

fn text() -> impl Strategy<Value = String> {
    // Values without quotes: quoting and escaping are checked separately below.
    "[a-zA-Z0-9 %_.-]{0,12}"
}

fn clause() -> impl Strategy<Value = Clause> {
    let ops = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
    ];
    prop_oneof![
        (ident(), ops, -1.0e6f64..1.0e6).prop_map(|(k, op, v)| Clause::Metric(k, op, v)),
        (ident(), text()).prop_map(|(k, v)| Clause::Param(k, v)),
        (ident(), text()).prop_map(|(k, v)| Clause::TagLike(k, v)),
        prop::collection::vec("[0-9a-f]{32}", 1..4).prop_map(Clause::RunIdIn),
        (ident(), prop::collection::vec("[a-z0-9]{1,6}", 1..4))
            .prop_map(|(k, v)| Clause::ParamIn(k, v)),
    ]
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        _ => ">=",
    }
}

fn render(c: &Clause, spaces: &str) -> String {
    match c {
        Clause::Metric(k, op, v) => format!("metrics.{k}{spaces}{}{spaces}{v:?}", op_text(*op)),
        Clause::Param(k, v) => format!("params.`{k}` = '{v}'"),
        Clause::TagLike(k, v) => format!("tags.\"{k}\" LIKE '{v}'"),
        Clause::RunIdIn(vs) => format!(
            "attributes.run_id IN ({})",
            vs.iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Clause::ParamIn(k, vs) => format!(
            "params.{k} IN ({})",
            vs.iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_filters_round_trip(
        clauses in prop::collection::vec(clause(), 1..6),
        and in prop_oneof![Just(" AND "), Just(" and "), Just("  And\t")],
        spaces in prop_oneof![Just(" "), Just(""), Just("  ")],
    ) {
        let input = clauses.iter().map(|c| render(c, spaces)).collect::<Vec<_>>().join(and);
        let parsed = parse_run_filter(&input)
            .map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
        prop_assert_eq!(parsed.len(), clauses.len(), "{}", input);
        for (c, p) in clauses.iter().zip(&parsed) {
            let span = p.span;
            prop_assert!(span.end <= input.len());
            match c {
                Clause::Metric(k, op, v) => {
                    prop_assert_eq!(&p.field, &RunField::Metric(k.clone()));
                    prop_assert_eq!(p.op, *op);
                    prop_assert_eq!(&p.value, &Literal::Number(*v));
                }
                Clause::Param(k, v) => {
                    prop_assert_eq!(&p.field, &RunField::Param(k.clone()));
                    prop_assert_eq!(p.op, CmpOp::Eq);
                    prop_assert_eq!(&p.value, &Literal::Str(v.clone()));
                }
                Clause::TagLike(k, v) => {
                    prop_assert_eq!(&p.field, &RunField::Tag(k.clone()));
                    prop_assert_eq!(p.op, CmpOp::Like);
                    prop_assert_eq!(&p.value, &Literal::Str(v.clone()));
                }
                Clause::RunIdIn(vs) => {
                    prop_assert_eq!(&p.field, &RunField::Attr(RunAttr::RunId));
                    prop_assert_eq!(p.op, CmpOp::In);
                    prop_assert_eq!(&p.value, &Literal::List(vs.clone()));
                }
                Clause::ParamIn(k, vs) => {
                    prop_assert_eq!(&p.field, &RunField::Param(k.clone()));
                    prop_assert_eq!(p.op, CmpOp::In);
                    prop_assert_eq!(&p.value, &Literal::List(vs.clone()));
                }
            }
        }
    }

    #[test]
    fn order_by_round_trips(k in ident(), dir in prop_oneof![Just(""), Just(" ASC"), Just(" desc")]) {
        let o = parse_run_order_by(&format!("metrics.`{k}`{dir}"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(o.field, RunField::Metric(k));
        prop_assert_eq!(o.ascending, dir != " desc");
    }
}
