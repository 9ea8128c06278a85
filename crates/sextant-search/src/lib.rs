//! MLflow's search grammar, parsed properly.
//!
//! MLflow's filter strings (`metrics.acc > 0.9 AND params.opt = 'adam'`) and order-by clauses
//! (`metrics.acc DESC`) are parsed here into typed conditions, one enum of fields per searchable
//! entity (runs, experiments, registered models, model versions, logged models). The store crate
//! translates them into SQL; this crate knows nothing of SQL, HTTP or storage.
//!
//! Errors carry the byte span of the offending token so a user sees *where* the filter is wrong,
//! and their messages follow MLflow's wording so existing tooling keeps matching on them.
//!
//! A filter is bounded before it reaches a database: at most [`MAX_FILTER_CLAUSES`] clauses,
//! [`MAX_IN_LIST_ITEMS`] list values and [`MAX_FILTER_LENGTH`] bytes, and no NUL character
//! (PostgreSQL cannot store or compare one), so both stores refuse the same filters the same way.
//!
//! ```
//! use sextant_search::{parse_run_filter, RunField, CmpOp, Literal};
//! let conds = parse_run_filter("metrics.acc > 0.9 and params.opt = 'adam'").unwrap();
//! assert_eq!(conds[0].field, RunField::Metric("acc".into()));
//! assert_eq!(conds[0].op, CmpOp::Gt);
//! assert_eq!(conds[0].value, Literal::Number(0.9));
//! ```

mod error;
mod lexer;
mod parser;
mod validate;

pub use error::SearchError;
pub use validate::{
    parse_experiment_filter, parse_experiment_order_by, parse_logged_model_filter,
    parse_logged_model_order_by, parse_model_version_filter, parse_model_version_order_by,
    parse_registered_model_filter, parse_registered_model_order_by, parse_run_filter,
    parse_run_order_by,
};

/// The most `AND` clauses one filter may have. Every clause is one indexed probe per candidate
/// row; beyond this a filter is refused (400) on both stores alike instead of tying up the
/// database.
pub const MAX_FILTER_CLAUSES: usize = 200;

/// The most values all the `IN` / `NOT IN` lists of one filter may hold together. Each value is
/// one bound SQL parameter; SQLite takes at most 32,766 per statement.
pub const MAX_IN_LIST_ITEMS: usize = 10_000;

/// The longest filter or order-by string, in bytes.
pub const MAX_FILTER_LENGTH: usize = 1024 * 1024;

/// A byte range in the input string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Case-sensitive SQL `LIKE` with `%` and `_` wildcards.
    Like,
    /// Case-insensitive `LIKE`.
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

/// The right-hand side of a condition, already checked against the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Str(String),
    /// The list of an `IN` / `NOT IN` condition.
    List(Vec<String>),
    /// The (absent) value of `IS NULL` / `IS NOT NULL`.
    Null,
}

/// One `field op value` clause of a filter; a filter is the AND of its conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition<F> {
    pub field: F,
    pub op: CmpOp,
    pub value: Literal,
    /// Where the whole clause stands in the input.
    pub span: Span,
}

/// One order-by clause: `field [ASC|DESC]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy<F> {
    pub field: F,
    pub ascending: bool,
}

/// Attributes of a run usable in filters and order-by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunAttr {
    RunId,
    RunName,
    Status,
    UserId,
    ArtifactUri,
    StartTime,
    EndTime,
}

/// Dataset fields usable in run filters (`datasets.name = 'x'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetField {
    Name,
    Digest,
    Context,
}

/// What a run filter or order-by refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RunField {
    Metric(String),
    Param(String),
    Tag(String),
    Attr(RunAttr),
    Dataset(DatasetField),
}

/// What an experiment filter or order-by refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExperimentField {
    Name,
    ExperimentId,
    CreationTime,
    LastUpdateTime,
    Tag(String),
}

/// What a registered-model filter or order-by refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisteredModelField {
    Name,
    /// `creation_timestamp` (order-by only; a Sextant extension).
    CreationTimestamp,
    /// `timestamp` / `last_updated_timestamp` (order-by only).
    LastUpdatedTimestamp,
    Tag(String),
}

/// What a model-version filter or order-by refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelVersionField {
    Name,
    VersionNumber,
    RunId,
    SourcePath,
    CreationTimestamp,
    LastUpdatedTimestamp,
    Tag(String),
}

/// Attributes of a logged model (MLflow 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoggedModelAttr {
    ModelId,
    Name,
    Status,
    ModelType,
    SourceRunId,
    CreationTimestamp,
    LastUpdatedTimestamp,
}

/// What a logged-model filter or order-by refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoggedModelField {
    Attr(LoggedModelAttr),
    Metric(String),
    Param(String),
    Tag(String),
}
