//! Tokens of the search grammar, each with its byte span.

use crate::{SearchError, Span};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: an identifier (`metrics.acc`), a keyword (`AND`), or an entity prefix
    /// ending in a dot (`tags.`) before a quoted key.
    Word(String),
    /// Text in quotes; `quote` is `'`, `"` or `` ` ``.
    Quoted {
        text: String,
        quote: char,
    },
    Number(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

impl Token {
    /// Whether this is the keyword `kw` (case-insensitive).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/')
}

/// Split `input` into tokens.
pub(crate) fn lex(input: &str) -> Result<Vec<Token>, SearchError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(input.len(), |&(b, _)| b);
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = |tok: Tok, n: usize| Token {
            tok,
            span: Span {
                start,
                end: end_of(i + n),
            },
        };
        match c {
            '(' => {
                out.push(single(Tok::LParen, 1));
                i += 1;
            }
            ')' => {
                out.push(single(Tok::RParen, 1));
                i += 1;
            }
            ',' => {
                out.push(single(Tok::Comma, 1));
                i += 1;
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).map(|&(_, n)| n);
                let (op, n) = match (c, next) {
                    ('=', Some('=')) => ("=", 2),
                    ('=', _) => ("=", 1),
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => {
                        return Err(SearchError::at(
                            format!("Invalid character '{c}' in search expression"),
                            Span {
                                start,
                                end: end_of(i + 1),
                            },
                            input,
                        ));
                    }
                };
                out.push(single(Tok::Op(op), n));
                i += n;
            }
            '\'' | '"' | '`' => {
                let quote = c;
                let mut text = String::new();
                let mut j = i + 1;
                let mut closed = false;
                while j < chars.len() {
                    let (_, d) = chars[j];
                    if d == '\\' && quote != '`' {
                        if let Some(&(_, e)) = chars.get(j + 1) {
                            text.push(e);
                            j += 2;
                            continue;
                        }
                    }
                    if d == quote {
                        // A doubled quote stands for one quote character (SQL style).
                        if chars.get(j + 1).map(|&(_, e)| e) == Some(quote) {
                            text.push(quote);
                            j += 2;
                            continue;
                        }
                        closed = true;
                        j += 1;
                        break;
                    }
                    text.push(d);
                    j += 1;
                }
                let span = Span {
                    start,
                    end: end_of(j),
                };
                if !closed {
                    return Err(SearchError::at(
                        format!("Unterminated quoted string starting with {quote}"),
                        span,
                        input,
                    ));
                }
                out.push(Token {
                    tok: Tok::Quoted { text, quote },
                    span,
                });
                i = j;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|&(_, n)| n.is_ascii_digit() || n == '.')) =>
            {
                let mut j = i + 1;
                while j < chars.len() {
                    let d = chars[j].1;
                    let prev = chars[j - 1].1;
                    if d.is_ascii_alphanumeric()
                        || d == '.'
                        || ((d == '-' || d == '+') && (prev == 'e' || prev == 'E'))
                    {
                        j += 1;
                    } else {
                        break;
                    }
                }
                let span = Span {
                    start,
                    end: end_of(j),
                };
                let text = &input[span.start..span.end];
                let value: f64 = text.parse().map_err(|_| {
                    SearchError::at(format!("Invalid numeric value '{text}'"), span, input)
                })?;
                out.push(Token {
                    tok: Tok::Number(value),
                    span,
                });
                i = j;
            }
            c if is_word_start(c) => {
                let mut j = i + 1;
                while j < chars.len() && is_word_char(chars[j].1) {
                    j += 1;
                }
                let span = Span {
                    start,
                    end: end_of(j),
                };
                out.push(Token {
                    tok: Tok::Word(input[span.start..span.end].to_owned()),
                    span,
                });
                i = j;
            }
            other => {
                return Err(SearchError::at(
                    format!("Invalid character '{other}' in search expression"),
                    Span {
                        start,
                        end: end_of(i + 1),
                    },
                    input,
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_a_clause() {
        assert_eq!(
            toks("metrics.acc >= -1.5e3"),
            vec![
                Tok::Word("metrics.acc".into()),
                Tok::Op(">="),
                Tok::Number(-1500.0)
            ]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            toks(r"tags.`a b` = 'it''s' AND x = 'a\'b'"),
            vec![
                Tok::Word("tags.".into()),
                Tok::Quoted {
                    text: "a b".into(),
                    quote: '`'
                },
                Tok::Op("="),
                Tok::Quoted {
                    text: "it's".into(),
                    quote: '\''
                },
                Tok::Word("AND".into()),
                Tok::Word("x".into()),
                Tok::Op("="),
                Tok::Quoted {
                    text: "a'b".into(),
                    quote: '\''
                },
            ]
        );
    }

    #[test]
    fn errors_point_at_the_character() {
        let e = lex("a = 'open").unwrap_err();
        assert_eq!(e.span, Some(Span { start: 4, end: 9 }));
        let e = lex("a ~ 1").unwrap_err();
        assert_eq!(e.span, Some(Span { start: 2, end: 3 }));
    }
}
