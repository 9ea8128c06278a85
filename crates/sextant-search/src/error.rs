//! Search errors: MLflow's wording, plus where in the input the problem is.

use crate::Span;

/// A filter or order-by clause that cannot be parsed or is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", position_suffix(*span, snippet))]
pub struct SearchError {
    /// What is wrong, in MLflow's words.
    pub message: String,
    /// The offending token, when there is one.
    pub span: Option<Span>,
    /// The offending text itself.
    pub snippet: String,
}

fn position_suffix(span: Option<Span>, snippet: &str) -> String {
    match span {
        Some(s) if !snippet.is_empty() => format!(" (at position {}: '{}')", s.start, snippet),
        Some(s) => format!(" (at position {})", s.start),
        None => String::new(),
    }
}

impl SearchError {
    pub(crate) fn at(message: impl Into<String>, span: Span, input: &str) -> Self {
        Self {
            message: message.into(),
            span: Some(span),
            snippet: input.get(span.start..span.end).unwrap_or("").to_owned(),
        }
    }

    pub(crate) fn general(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: None,
            snippet: String::new(),
        }
    }

    /// The input with a caret line under the offending token, for terminals.
    pub fn render(&self, input: &str) -> String {
        match self.span {
            Some(s) => {
                let pad = input.get(..s.start).map_or(0, |p| p.chars().count());
                let width = input
                    .get(s.start..s.end)
                    .map_or(1, |t| t.chars().count().max(1));
                format!(
                    "{}\n  {input}\n  {}{}",
                    self.message,
                    " ".repeat(pad),
                    "^".repeat(width)
                )
            }
            None => self.message.clone(),
        }
    }
}
