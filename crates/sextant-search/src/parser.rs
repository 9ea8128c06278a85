//! The grammar, independent of what the keys mean:
//!
//! ```text
//! filter   := clause (AND clause)*        | (empty)
//! clause   := ident op value
//! ident    := WORD                         (metrics.acc, run_name, tags.mlflow.user)
//!           | WORD_ENDING_IN_DOT QUOTED    (tags.`mlflow.user`, params."a b")
//!           | QUOTED                       (a bare quoted attribute)
//! op       := = | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
//! value    := NUMBER | 'string' | "string" | ( item (, item)* )
//! order_by := ident [ASC | DESC]
//! ```

use crate::lexer::{Tok, Token, lex};
use crate::{CmpOp, MAX_FILTER_CLAUSES, MAX_FILTER_LENGTH, MAX_IN_LIST_ITEMS, SearchError, Span};

/// An identifier as written: an optional entity prefix and a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawIdent {
    pub entity: Option<String>,
    pub key: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    Number(f64),
    Str(String),
    List(Vec<String>),
    Null,
}

impl RawValue {
    pub fn describe(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Str(s) => format!("'{s}'"),
            Self::List(l) => format!("({})", l.join(", ")),
            Self::Null => "NULL".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawClause {
    pub ident: RawIdent,
    pub op: CmpOp,
    pub op_span: Span,
    pub value: RawValue,
    pub value_span: Span,
    pub span: Span,
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self, SearchError> {
        Ok(Self {
            input,
            toks: lex(input)?,
            pos: 0,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn end_span(&self) -> Span {
        Span {
            start: self.input.len(),
            end: self.input.len(),
        }
    }

    fn err(&self, msg: impl Into<String>, span: Span) -> SearchError {
        SearchError::at(msg, span, self.input)
    }

    fn expect_more(&mut self, what: &str) -> Result<Token, SearchError> {
        match self.next() {
            Some(t) => Ok(t),
            None => Err(self.err(
                format!(
                    "Invalid filter '{}': expected {what} at the end",
                    self.input.trim()
                ),
                self.end_span(),
            )),
        }
    }

    fn ident(&mut self) -> Result<RawIdent, SearchError> {
        let t = self.expect_more("an identifier")?;
        match t.tok {
            Tok::Word(w) => {
                if let Some(prefix) = w.strip_suffix('.') {
                    // `tags.` followed by a quoted key.
                    let q = self.expect_more("a quoted key")?;
                    match q.tok {
                        Tok::Quoted { text, quote } if quote != '\'' => Ok(RawIdent {
                            entity: Some(prefix.to_owned()),
                            key: text,
                            span: Span {
                                start: t.span.start,
                                end: q.span.end,
                            },
                        }),
                        _ => Err(self.err(
                            format!("Invalid identifier '{w}': expected a key after the dot"),
                            t.span,
                        )),
                    }
                } else if let Some((entity, key)) = w.split_once('.') {
                    Ok(RawIdent {
                        entity: Some(entity.to_owned()),
                        key: key.to_owned(),
                        span: t.span,
                    })
                } else {
                    Ok(RawIdent {
                        entity: None,
                        key: w,
                        span: t.span,
                    })
                }
            }
            Tok::Quoted { text, quote } if quote != '\'' => Ok(RawIdent {
                entity: None,
                key: text,
                span: t.span,
            }),
            _ => Err(self.err(
                format!(
                    "Invalid clause: expected an identifier such as metrics.<name>, found '{}'",
                    &self.input[t.span.start..t.span.end]
                ),
                t.span,
            )),
        }
    }

    fn op(&mut self) -> Result<(CmpOp, Span), SearchError> {
        let t = self.expect_more("a comparison operator")?;
        let op = match &t.tok {
            Tok::Op(o) => match *o {
                "=" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            },
            _ if t.is_kw("LIKE") => CmpOp::Like,
            _ if t.is_kw("ILIKE") => CmpOp::ILike,
            _ if t.is_kw("IN") => CmpOp::In,
            _ if t.is_kw("NOT") => {
                let n = self.expect_more("IN after NOT")?;
                if !n.is_kw("IN") {
                    return Err(self.err("Invalid comparator: expected IN after NOT", n.span));
                }
                return Ok((
                    CmpOp::NotIn,
                    Span {
                        start: t.span.start,
                        end: n.span.end,
                    },
                ));
            }
            _ if t.is_kw("IS") => {
                let mut n = self.expect_more("NULL after IS")?;
                let mut op = CmpOp::IsNull;
                if n.is_kw("NOT") {
                    op = CmpOp::IsNotNull;
                    n = self.expect_more("NULL after IS NOT")?;
                }
                if !n.is_kw("NULL") {
                    return Err(self.err("Invalid comparator: expected NULL after IS", n.span));
                }
                return Ok((
                    op,
                    Span {
                        start: t.span.start,
                        end: n.span.end,
                    },
                ));
            }
            _ => {
                return Err(self.err(
                    format!(
                        "Invalid comparator '{}': expected one of =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL",
                        &self.input[t.span.start..t.span.end]
                    ),
                    t.span,
                ));
            }
        };
        Ok((op, t.span))
    }

    fn value(&mut self, op: CmpOp, op_span: Span) -> Result<(RawValue, Span), SearchError> {
        if matches!(op, CmpOp::IsNull | CmpOp::IsNotNull) {
            return Ok((RawValue::Null, op_span));
        }
        let t = self.expect_more("a value")?;
        match t.tok {
            Tok::Number(n) => Ok((RawValue::Number(n), t.span)),
            Tok::Quoted { text, quote } if quote != '`' => Ok((RawValue::Str(text), t.span)),
            Tok::LParen => {
                let mut items = Vec::new();
                loop {
                    let item = self.expect_more("a list item")?;
                    match item.tok {
                        Tok::Quoted { text, quote } if quote != '`' => items.push(text),
                        Tok::Number(_) => {
                            items.push(self.input[item.span.start..item.span.end].to_owned());
                        }
                        Tok::RParen if items.is_empty() => {
                            return Err(self.err(
                                "While parsing a list in the query, expected a non-empty list of string values, but got empty list",
                                Span { start: t.span.start, end: item.span.end },
                            ));
                        }
                        _ => {
                            return Err(self.err(
                                "While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list",
                                item.span,
                            ));
                        }
                    }
                    let sep = self.expect_more("',' or ')'")?;
                    match sep.tok {
                        Tok::Comma => {}
                        Tok::RParen => {
                            return Ok((
                                RawValue::List(items),
                                Span {
                                    start: t.span.start,
                                    end: sep.span.end,
                                },
                            ));
                        }
                        _ => return Err(self.err("Expected ',' or ')' in the list", sep.span)),
                    }
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok((RawValue::Null, t.span)),
            _ => Err(self.err(
                format!(
                    "Invalid value '{}': expected a number or a quoted string",
                    &self.input[t.span.start..t.span.end]
                ),
                t.span,
            )),
        }
    }

    fn clause(&mut self) -> Result<RawClause, SearchError> {
        let ident = self.ident()?;
        let (op, op_span) = self.op()?;
        let (value, value_span) = self.value(op, op_span)?;
        if matches!(op, CmpOp::In | CmpOp::NotIn) && !matches!(value, RawValue::List(_)) {
            return Err(self.err(
                "Expected a list of quoted strings after IN / NOT IN, e.g. ('a', 'b')",
                value_span,
            ));
        }
        if matches!(value, RawValue::List(_)) && !matches!(op, CmpOp::In | CmpOp::NotIn) {
            return Err(self.err("A list value needs IN or NOT IN", op_span));
        }
        Ok(RawClause {
            span: Span {
                start: ident.span.start,
                end: value_span.end.max(op_span.end),
            },
            ident,
            op,
            op_span,
            value,
            value_span,
        })
    }
}

/// Refuse input that no store can keep or that is too large to search with (see the limits in
/// the crate root): checked before lexing, so a huge string costs no tokens.
fn check_input(input: &str, what: &str) -> Result<(), SearchError> {
    if input.len() > MAX_FILTER_LENGTH {
        return Err(SearchError::general(format!(
            "Invalid {what}: it is {} bytes long, more than the limit of {MAX_FILTER_LENGTH} bytes",
            input.len()
        )));
    }
    if let Some(at) = input.find('\0') {
        return Err(SearchError::at(
            format!("Invalid {what}: it contains a NUL character (\\u0000)"),
            Span {
                start: at,
                end: at + 1,
            },
            input,
        ));
    }
    Ok(())
}

/// Parse a filter into raw clauses (AND-joined).
pub(crate) fn parse_filter(input: &str) -> Result<Vec<RawClause>, SearchError> {
    check_input(input, "filter")?;
    let mut p = Parser::new(input)?;
    let mut clauses = Vec::new();
    let mut list_items = 0usize;
    if p.peek().is_none() {
        return Ok(clauses);
    }
    loop {
        let clause = p.clause()?;
        if let RawValue::List(items) = &clause.value {
            list_items += items.len();
            if list_items > MAX_IN_LIST_ITEMS {
                return Err(p.err(
                    format!(
                        "Invalid filter: its IN lists hold more than {MAX_IN_LIST_ITEMS} values \
                         in all (the limit); split the search into several"
                    ),
                    clause.value_span,
                ));
            }
        }
        clauses.push(clause);
        if clauses.len() > MAX_FILTER_CLAUSES {
            return Err(p.err(
                format!(
                    "Invalid filter: it has more than {MAX_FILTER_CLAUSES} clauses (the limit); \
                     use IN lists or split the search into several"
                ),
                clauses[MAX_FILTER_CLAUSES].span,
            ));
        }
        match p.next() {
            None => return Ok(clauses),
            Some(t) if t.is_kw("AND") => {
                if p.peek().is_none() {
                    return Err(p.err("Invalid filter: a clause must follow AND", t.span));
                }
            }
            Some(t) if t.is_kw("OR") => {
                return Err(p.err(
                    "Invalid filter: OR is not supported; clauses can only be joined with AND",
                    t.span,
                ));
            }
            Some(t) => {
                return Err(p.err(
                    format!(
                        "Invalid clause(s) in filter string: expected AND, found '{}'",
                        &input[t.span.start..t.span.end]
                    ),
                    t.span,
                ));
            }
        }
    }
}

/// Parse one order-by clause: an identifier and an optional direction.
pub(crate) fn parse_order_by(input: &str) -> Result<(RawIdent, bool), SearchError> {
    check_input(input, "order_by clause")?;
    let mut p = Parser::new(input)?;
    if p.peek().is_none() {
        return Err(SearchError::general(format!(
            "Invalid order_by clause '{input}'. Could not be parsed."
        )));
    }
    let ident = p.ident()?;
    let ascending = match p.next() {
        None => true,
        Some(t) if t.is_kw("ASC") => true,
        Some(t) if t.is_kw("DESC") => false,
        Some(t) => {
            return Err(p.err(
                format!(
                    "Invalid ordering key in order_by clause '{input}': expected ASC or DESC, found '{}'",
                    &input[t.span.start..t.span.end]
                ),
                t.span,
            ));
        }
    };
    if let Some(t) = p.next() {
        return Err(p.err(
            format!("Invalid order_by clause '{input}': unexpected text after the direction"),
            t.span,
        ));
    }
    Ok((ident, ascending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_beyond_the_limits_are_refused() {
        let ok = vec!["metrics.a > 1"; MAX_FILTER_CLAUSES].join(" AND ");
        assert_eq!(parse_filter(&ok).unwrap().len(), MAX_FILTER_CLAUSES);
        let too_many = vec!["metrics.a > 1"; MAX_FILTER_CLAUSES + 1].join(" AND ");
        let e = parse_filter(&too_many).unwrap_err();
        assert!(e.message.contains("more than 200 clauses"), "{e}");

        let items = vec!["'x'"; MAX_IN_LIST_ITEMS + 1].join(",");
        let e = parse_filter(&format!("run_id IN ({items})")).unwrap_err();
        assert!(e.message.contains("10000 values"), "{e}");

        let e = parse_filter("params.a = 'x\0y'").unwrap_err();
        assert!(e.message.contains("NUL"), "{e}");
        assert_eq!(e.span.map(|s| s.start), Some(13));
        assert!(
            parse_order_by("metrics.a\0")
                .unwrap_err()
                .message
                .contains("NUL")
        );

        let long = format!("params.a = '{}'", "x".repeat(MAX_FILTER_LENGTH));
        assert!(
            parse_filter(&long)
                .unwrap_err()
                .message
                .contains("bytes long")
        );
    }

    #[test]
    fn parses_clauses_joined_by_and() {
        let c = parse_filter("metrics.acc > 0.9 and params.`a b` = 'x' AND run_id IN ('a','b')")
            .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].ident.entity.as_deref(), Some("metrics"));
        assert_eq!(c[1].ident.key, "a b");
        assert_eq!(c[2].value, RawValue::List(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn is_null_forms() {
        let c = parse_filter("tags.x IS NULL and tags.y is not null").unwrap();
        assert_eq!(c[0].op, CmpOp::IsNull);
        assert_eq!(c[1].op, CmpOp::IsNotNull);
    }

    #[test]
    fn or_is_rejected_with_position() {
        let e = parse_filter("a = 'x' OR b = 'y'").unwrap_err();
        assert_eq!(e.span, Some(Span { start: 8, end: 10 }));
    }

    #[test]
    fn order_by_directions() {
        assert!(parse_order_by("metrics.m DESC").is_ok_and(|(_, asc)| !asc));
        assert!(parse_order_by("params.`p q`").is_ok_and(|(i, asc)| asc && i.key == "p q"));
        assert!(parse_order_by("x UP").is_err());
    }
}
