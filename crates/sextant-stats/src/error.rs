//! The one error type of this crate.

/// What a statistic refuses to compute, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A sample that must hold values is empty.
    #[error("{what} is empty")]
    Empty { what: &'static str },
    /// A sample holds NaN or an infinity (rank tests and medians need finite numbers).
    #[error("{what} holds a value that is not a finite number ({value})")]
    NonFinite { what: &'static str, value: f64 },
    /// A parameter is outside its range.
    #[error("{name} must be {expected}, got {value}")]
    Parameter {
        name: &'static str,
        expected: &'static str,
        value: f64,
    },
    /// A performance profile needs positive costs on every problem.
    #[error(
        "a performance profile needs values > 0 on every problem; {problem} has {value} \
         (ratios to the best are undefined otherwise)"
    )]
    ProfileUndefined { problem: String, value: f64 },
}

pub(crate) fn check_sample(what: &'static str, xs: &[f64]) -> Result<(), StatsError> {
    if xs.is_empty() {
        return Err(StatsError::Empty { what });
    }
    if let Some(&value) = xs.iter().find(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { what, value });
    }
    Ok(())
}
