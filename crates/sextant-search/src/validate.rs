//! What the keys mean for each searchable entity, and which operators and values they take.

use crate::parser::{RawClause, RawIdent, RawValue, parse_filter, parse_order_by};
use crate::{
    CmpOp, Condition, DatasetField, ExperimentField, Literal, LoggedModelAttr, LoggedModelField,
    ModelVersionField, OrderBy, RegisteredModelField, RunAttr, RunField, SearchError,
};

/// The entity an identifier's prefix names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Metric,
    Param,
    Tag,
    Attr,
    Dataset,
}

const ENTITY_NAMES: &str = "['metric', 'metrics', 'parameter', 'parameters', 'param', 'params', 'tag', 'tags', \
     'attribute', 'attr', 'attributes', 'run', 'dataset', 'datasets']";

fn entity(ident: &RawIdent, input: &str) -> Result<Entity, SearchError> {
    let Some(prefix) = ident.entity.as_deref() else {
        return Ok(Entity::Attr);
    };
    match prefix.to_ascii_lowercase().as_str() {
        "metric" | "metrics" => Ok(Entity::Metric),
        "param" | "params" | "parameter" | "parameters" => Ok(Entity::Param),
        "tag" | "tags" => Ok(Entity::Tag),
        "attribute" | "attr" | "attributes" | "run" => Ok(Entity::Attr),
        "dataset" | "datasets" => Ok(Entity::Dataset),
        _ => Err(SearchError::at(
            format!("Invalid entity type '{prefix}'. Valid values are {ENTITY_NAMES}"),
            ident.span,
            input,
        )),
    }
}

const NUMERIC_OPS: &[CmpOp] = &[
    CmpOp::Gt,
    CmpOp::Ge,
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::Le,
    CmpOp::Lt,
];
const KV_OPS: &[CmpOp] = &[
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::Like,
    CmpOp::ILike,
    CmpOp::IsNull,
    CmpOp::IsNotNull,
    CmpOp::In,
    CmpOp::NotIn,
];
const STRING_OPS: &[CmpOp] = &[CmpOp::Eq, CmpOp::Ne, CmpOp::Like, CmpOp::ILike];
const STRING_LIST_OPS: &[CmpOp] = &[
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::Like,
    CmpOp::ILike,
    CmpOp::In,
    CmpOp::NotIn,
];

fn op_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Like => "LIKE",
        CmpOp::ILike => "ILIKE",
        CmpOp::In => "IN",
        CmpOp::NotIn => "NOT IN",
        CmpOp::IsNull => "IS NULL",
        CmpOp::IsNotNull => "IS NOT NULL",
    }
}

fn check_op(c: &RawClause, allowed: &[CmpOp], input: &str) -> Result<(), SearchError> {
    if allowed.contains(&c.op) {
        return Ok(());
    }
    let names: Vec<String> = allowed
        .iter()
        .map(|o| format!("'{}'", op_name(*o)))
        .collect();
    Err(SearchError::at(
        format!(
            "Invalid comparator '{}' not one of '[{}]'",
            op_name(c.op),
            names.join(", ")
        ),
        c.op_span,
        input,
    ))
}

/// A numeric value (metrics, times, version numbers). Quoted numbers are accepted.
fn number(c: &RawClause, what: &str, input: &str) -> Result<Literal, SearchError> {
    match &c.value {
        RawValue::Number(n) => Ok(Literal::Number(*n)),
        RawValue::Str(s) if s.trim().parse::<f64>().is_ok() => {
            Ok(Literal::Number(s.trim().parse().unwrap_or_default()))
        }
        other => Err(SearchError::at(
            format!(
                "Expected numeric value type for {what}. Found {}",
                other.describe()
            ),
            c.value_span,
            input,
        )),
    }
}

/// A string value (or a list for IN / NOT IN, or nothing for IS [NOT] NULL).
fn string(c: &RawClause, what: &str, input: &str) -> Result<Literal, SearchError> {
    match &c.value {
        RawValue::Str(s) => Ok(Literal::Str(s.clone())),
        RawValue::List(l) => Ok(Literal::List(l.clone())),
        RawValue::Null => Ok(Literal::Null),
        RawValue::Number(_) => Err(SearchError::at(
            format!(
                "Expected a quoted string value for {what} (e.g. 'my-value'). Got value {}",
                &input[c.value_span.start..c.value_span.end]
            ),
            c.value_span,
            input,
        )),
    }
}

fn key_value(c: &RawClause, what: &str, input: &str) -> Result<Literal, SearchError> {
    check_op(c, KV_OPS, input)?;
    string(c, what, input)
}

fn cond<F>(c: &RawClause, field: F, value: Literal) -> Condition<F> {
    Condition {
        field,
        op: c.op,
        value,
        span: c.span,
    }
}

fn bad_key(kind: &str, key: &str, valid: &[&str], ident: &RawIdent, input: &str) -> SearchError {
    let list: Vec<String> = valid.iter().map(|v| format!("'{v}'")).collect();
    SearchError::at(
        format!(
            "Invalid {kind} key '{key}' specified. Valid keys are '[{}]'",
            list.join(", ")
        ),
        ident.span,
        input,
    )
}

const RUN_ATTRS: &[&str] = &[
    "run_id",
    "run_name",
    "status",
    "user_id",
    "artifact_uri",
    "start_time",
    "end_time",
    "created",
];

fn run_attr(ident: &RawIdent, input: &str) -> Result<RunAttr, SearchError> {
    Ok(match ident.key.as_str() {
        "run_id" => RunAttr::RunId,
        "run_name" | "run name" | "Run name" | "Run Name" => RunAttr::RunName,
        "status" => RunAttr::Status,
        "user_id" => RunAttr::UserId,
        "artifact_uri" => RunAttr::ArtifactUri,
        "start_time" | "created" | "Created" => RunAttr::StartTime,
        "end_time" => RunAttr::EndTime,
        other => return Err(bad_key("attribute", other, RUN_ATTRS, ident, input)),
    })
}

fn dataset_field(ident: &RawIdent, input: &str) -> Result<DatasetField, SearchError> {
    Ok(match ident.key.as_str() {
        "name" => DatasetField::Name,
        "digest" => DatasetField::Digest,
        "context" => DatasetField::Context,
        other => {
            return Err(bad_key(
                "dataset",
                other,
                &["name", "digest", "context"],
                ident,
                input,
            ));
        }
    })
}

fn run_field(ident: &RawIdent, input: &str) -> Result<RunField, SearchError> {
    Ok(match entity(ident, input)? {
        Entity::Metric => RunField::Metric(ident.key.clone()),
        Entity::Param => RunField::Param(ident.key.clone()),
        Entity::Tag => RunField::Tag(ident.key.clone()),
        Entity::Attr => RunField::Attr(run_attr(ident, input)?),
        Entity::Dataset => RunField::Dataset(dataset_field(ident, input)?),
    })
}

/// Parse a run filter (`search_runs`).
pub fn parse_run_filter(s: &str) -> Result<Vec<Condition<RunField>>, SearchError> {
    parse_filter(s)?
        .iter()
        .map(|c| {
            let field = run_field(&c.ident, s)?;
            let value = match &field {
                RunField::Metric(_) => {
                    check_op(c, NUMERIC_OPS, s)?;
                    number(c, "metric", s)?
                }
                RunField::Param(_) => key_value(c, "param", s)?,
                RunField::Tag(_) => key_value(c, "tag", s)?,
                RunField::Attr(RunAttr::StartTime | RunAttr::EndTime) => {
                    check_op(c, NUMERIC_OPS, s)?;
                    number(c, "attribute", s)?
                }
                RunField::Attr(a) => {
                    check_op(c, STRING_LIST_OPS, s)?;
                    if matches!(c.op, CmpOp::In | CmpOp::NotIn) && *a != RunAttr::RunId {
                        return Err(SearchError::at(
                            "Only the 'run_id' attribute supports comparison with a list of quoted string values.",
                            c.op_span,
                            s,
                        ));
                    }
                    string(c, "attribute", s)?
                }
                RunField::Dataset(_) => {
                    check_op(c, STRING_LIST_OPS, s)?;
                    string(c, "dataset", s)?
                }
            };
            Ok(cond(c, field, value))
        })
        .collect()
}

/// Parse one run order-by clause.
pub fn parse_run_order_by(s: &str) -> Result<OrderBy<RunField>, SearchError> {
    let (ident, ascending) = parse_order_by(s)?;
    let field = run_field(&ident, s)?;
    if matches!(field, RunField::Dataset(_)) {
        return Err(SearchError::at(
            format!("Invalid order_by clause '{s}': datasets cannot be ordered by"),
            ident.span,
            s,
        ));
    }
    Ok(OrderBy { field, ascending })
}

fn experiment_field(ident: &RawIdent, input: &str) -> Result<ExperimentField, SearchError> {
    match entity(ident, input)? {
        Entity::Tag => Ok(ExperimentField::Tag(ident.key.clone())),
        Entity::Attr => Ok(match ident.key.as_str() {
            "name" => ExperimentField::Name,
            "experiment_id" => ExperimentField::ExperimentId,
            "creation_time" => ExperimentField::CreationTime,
            "last_update_time" => ExperimentField::LastUpdateTime,
            other => {
                return Err(bad_key(
                    "attribute",
                    other,
                    &["name", "experiment_id", "creation_time", "last_update_time"],
                    ident,
                    input,
                ));
            }
        }),
        _ => Err(SearchError::at(
            format!(
                "Invalid entity type '{}'. Experiments can be searched by attributes and tags",
                ident.entity.as_deref().unwrap_or("")
            ),
            ident.span,
            input,
        )),
    }
}

/// Parse an experiment filter (`search_experiments`).
pub fn parse_experiment_filter(s: &str) -> Result<Vec<Condition<ExperimentField>>, SearchError> {
    parse_filter(s)?
        .iter()
        .map(|c| {
            let field = experiment_field(&c.ident, s)?;
            let value = match field {
                ExperimentField::CreationTime | ExperimentField::LastUpdateTime => {
                    check_op(c, NUMERIC_OPS, s)?;
                    number(c, "attribute", s)?
                }
                ExperimentField::Tag(_) => key_value(c, "tag", s)?,
                ExperimentField::Name | ExperimentField::ExperimentId => {
                    check_op(c, STRING_LIST_OPS, s)?;
                    match &c.value {
                        RawValue::Number(_) => {
                            Literal::Str(s[c.value_span.start..c.value_span.end].to_owned())
                        }
                        _ => string(c, "attribute", s)?,
                    }
                }
            };
            Ok(cond(c, field, value))
        })
        .collect()
}

/// Parse one experiment order-by clause.
pub fn parse_experiment_order_by(s: &str) -> Result<OrderBy<ExperimentField>, SearchError> {
    let (ident, ascending) = parse_order_by(s)?;
    Ok(OrderBy {
        field: experiment_field(&ident, s)?,
        ascending,
    })
}

fn registered_model_field(
    ident: &RawIdent,
    input: &str,
    for_order: bool,
) -> Result<RegisteredModelField, SearchError> {
    match entity(ident, input)? {
        Entity::Tag if !for_order => Ok(RegisteredModelField::Tag(ident.key.clone())),
        Entity::Attr => Ok(match ident.key.as_str() {
            "name" => RegisteredModelField::Name,
            // As in MLflow, `timestamp` orders registered models by their last update.
            "creation_timestamp" if for_order => RegisteredModelField::CreationTimestamp,
            "timestamp" | "last_updated_timestamp" if for_order => {
                RegisteredModelField::LastUpdatedTimestamp
            }
            other => {
                let valid: &[&str] = if for_order {
                    &[
                        "name",
                        "timestamp",
                        "creation_timestamp",
                        "last_updated_timestamp",
                    ]
                } else {
                    &["name"]
                };
                return Err(bad_key("attribute", other, valid, ident, input));
            }
        }),
        _ => Err(SearchError::at(
            format!(
                "Invalid entity type '{}'. Registered models can be searched by name and tags",
                ident.entity.as_deref().unwrap_or("")
            ),
            ident.span,
            input,
        )),
    }
}

/// Parse a registered-model filter (`search_registered_models`).
pub fn parse_registered_model_filter(
    s: &str,
) -> Result<Vec<Condition<RegisteredModelField>>, SearchError> {
    parse_filter(s)?
        .iter()
        .map(|c| {
            let field = registered_model_field(&c.ident, s, false)?;
            let value = match field {
                RegisteredModelField::Tag(_) => {
                    check_op(c, STRING_OPS, s)?;
                    string(c, "tag", s)?
                }
                _ => {
                    check_op(c, STRING_LIST_OPS, s)?;
                    string(c, "attribute", s)?
                }
            };
            Ok(cond(c, field, value))
        })
        .collect()
}

/// Parse one registered-model order-by clause.
pub fn parse_registered_model_order_by(
    s: &str,
) -> Result<OrderBy<RegisteredModelField>, SearchError> {
    let (ident, ascending) = parse_order_by(s)?;
    Ok(OrderBy {
        field: registered_model_field(&ident, s, true)?,
        ascending,
    })
}

fn model_version_field(
    ident: &RawIdent,
    input: &str,
    for_order: bool,
) -> Result<ModelVersionField, SearchError> {
    match entity(ident, input)? {
        Entity::Tag if !for_order => Ok(ModelVersionField::Tag(ident.key.clone())),
        Entity::Attr => Ok(match ident.key.as_str() {
            "name" => ModelVersionField::Name,
            "version_number" => ModelVersionField::VersionNumber,
            "run_id" if !for_order => ModelVersionField::RunId,
            "source_path" if !for_order => ModelVersionField::SourcePath,
            "creation_timestamp" | "timestamp" if for_order => ModelVersionField::CreationTimestamp,
            "last_updated_timestamp" if for_order => ModelVersionField::LastUpdatedTimestamp,
            other => {
                let valid: &[&str] = if for_order {
                    &[
                        "name",
                        "version_number",
                        "creation_timestamp",
                        "last_updated_timestamp",
                    ]
                } else {
                    &["name", "version_number", "run_id", "source_path"]
                };
                return Err(bad_key("attribute", other, valid, ident, input));
            }
        }),
        _ => Err(SearchError::at(
            format!(
                "Invalid entity type '{}'. Model versions can be searched by attributes and tags",
                ident.entity.as_deref().unwrap_or("")
            ),
            ident.span,
            input,
        )),
    }
}

/// Parse a model-version filter (`search_model_versions`).
pub fn parse_model_version_filter(
    s: &str,
) -> Result<Vec<Condition<ModelVersionField>>, SearchError> {
    parse_filter(s)?
        .iter()
        .map(|c| {
            let field = model_version_field(&c.ident, s, false)?;
            let value = match &field {
                ModelVersionField::VersionNumber => {
                    check_op(c, NUMERIC_OPS, s)?;
                    number(c, "version_number", s)?
                }
                ModelVersionField::Tag(_) => {
                    check_op(c, STRING_OPS, s)?;
                    string(c, "tag", s)?
                }
                ModelVersionField::Name | ModelVersionField::RunId => {
                    check_op(c, STRING_LIST_OPS, s)?;
                    string(c, "attribute", s)?
                }
                _ => {
                    check_op(c, STRING_OPS, s)?;
                    string(c, "attribute", s)?
                }
            };
            Ok(cond(c, field, value))
        })
        .collect()
}

/// Parse one model-version order-by clause.
pub fn parse_model_version_order_by(s: &str) -> Result<OrderBy<ModelVersionField>, SearchError> {
    let (ident, ascending) = parse_order_by(s)?;
    Ok(OrderBy {
        field: model_version_field(&ident, s, true)?,
        ascending,
    })
}

const LOGGED_MODEL_ATTRS: &[&str] = &[
    "model_id",
    "name",
    "status",
    "model_type",
    "source_run_id",
    "creation_timestamp",
    "last_updated_timestamp",
];

fn logged_model_field(ident: &RawIdent, input: &str) -> Result<LoggedModelField, SearchError> {
    Ok(match entity(ident, input)? {
        Entity::Metric => LoggedModelField::Metric(ident.key.clone()),
        Entity::Param => LoggedModelField::Param(ident.key.clone()),
        Entity::Tag => LoggedModelField::Tag(ident.key.clone()),
        Entity::Attr => LoggedModelField::Attr(match ident.key.as_str() {
            "model_id" => LoggedModelAttr::ModelId,
            "name" => LoggedModelAttr::Name,
            "status" => LoggedModelAttr::Status,
            "model_type" => LoggedModelAttr::ModelType,
            "source_run_id" => LoggedModelAttr::SourceRunId,
            "creation_timestamp" | "creation_time" | "creation_timestamp_ms" => {
                LoggedModelAttr::CreationTimestamp
            }
            "last_updated_timestamp" | "last_updated_timestamp_ms" => {
                LoggedModelAttr::LastUpdatedTimestamp
            }
            other => {
                return Err(bad_key(
                    "attribute",
                    other,
                    LOGGED_MODEL_ATTRS,
                    ident,
                    input,
                ));
            }
        }),
        Entity::Dataset => {
            return Err(SearchError::at(
                "Logged models cannot be filtered by datasets",
                ident.span,
                input,
            ));
        }
    })
}

/// Parse a logged-model filter (`search_logged_models`).
pub fn parse_logged_model_filter(s: &str) -> Result<Vec<Condition<LoggedModelField>>, SearchError> {
    parse_filter(s)?
        .iter()
        .map(|c| {
            let field = logged_model_field(&c.ident, s)?;
            let value = match &field {
                LoggedModelField::Metric(_)
                | LoggedModelField::Attr(
                    LoggedModelAttr::CreationTimestamp | LoggedModelAttr::LastUpdatedTimestamp,
                ) => {
                    check_op(c, NUMERIC_OPS, s)?;
                    number(c, "metric", s)?
                }
                LoggedModelField::Param(_) | LoggedModelField::Tag(_) => key_value(c, "tag", s)?,
                LoggedModelField::Attr(_) => {
                    check_op(c, STRING_LIST_OPS, s)?;
                    string(c, "attribute", s)?
                }
            };
            Ok(cond(c, field, value))
        })
        .collect()
}

/// Parse one logged-model order-by clause.
pub fn parse_logged_model_order_by(s: &str) -> Result<OrderBy<LoggedModelField>, SearchError> {
    let (ident, ascending) = parse_order_by(s)?;
    Ok(OrderBy {
        field: logged_model_field(&ident, s)?,
        ascending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;

    #[test]
    fn run_filters_of_every_kind() {
        let c = parse_run_filter(
            "metrics.acc > 0.9 and params.opt = 'adam' and tags.`mlflow.user` LIKE 'r%' \
             and attributes.status = 'FINISHED' and run_name ILIKE '%x%' and \
             attr.start_time >= 5 and run_id IN ('a', 'b') and datasets.name = 'd' \
             and params.p IN ('1','2') and tags.t IS NULL",
        )
        .unwrap();
        assert_eq!(c[0].field, RunField::Metric("acc".into()));
        assert_eq!(c[1].value, Literal::Str("adam".into()));
        assert_eq!(c[2].field, RunField::Tag("mlflow.user".into()));
        assert_eq!(c[3].field, RunField::Attr(RunAttr::Status));
        assert_eq!(c[4].field, RunField::Attr(RunAttr::RunName));
        assert_eq!(c[5].value, Literal::Number(5.0));
        assert_eq!(c[6].op, CmpOp::In);
        assert_eq!(c[7].field, RunField::Dataset(DatasetField::Name));
        assert_eq!(c[8].value, Literal::List(vec!["1".into(), "2".into()]));
        assert_eq!(c[9].op, CmpOp::IsNull);
    }

    #[test]
    fn aliases_resolve() {
        for f in ["metric.m = 1", "metrics.m = 1"] {
            assert_eq!(
                parse_run_filter(f).unwrap()[0].field,
                RunField::Metric("m".into())
            );
        }
        for f in [
            "param.p = 'x'",
            "params.p = 'x'",
            "parameter.p = 'x'",
            "parameters.p = 'x'",
        ] {
            assert_eq!(
                parse_run_filter(f).unwrap()[0].field,
                RunField::Param("p".into())
            );
        }
        for f in [
            "run.status = 'x'",
            "attr.status = 'x'",
            "attribute.status = 'x'",
            "status = 'x'",
        ] {
            assert_eq!(
                parse_run_filter(f).unwrap()[0].field,
                RunField::Attr(RunAttr::Status)
            );
        }
        assert_eq!(
            parse_run_filter("attributes.created > 1").unwrap()[0].field,
            RunField::Attr(RunAttr::StartTime)
        );
    }

    #[test]
    fn errors_name_the_problem_and_place() {
        let e = parse_run_filter("metrics.acc = 'x'").unwrap_err();
        assert!(
            e.message
                .starts_with("Expected numeric value type for metric")
        );
        assert_eq!(e.span, Some(Span { start: 14, end: 17 }));
        let e = parse_run_filter("metrics.acc LIKE 1").unwrap_err();
        assert!(
            e.message.starts_with("Invalid comparator 'LIKE'"),
            "{}",
            e.message
        );
        let e = parse_run_filter("attributes.nope = 'x'").unwrap_err();
        assert!(e.message.starts_with("Invalid attribute key 'nope'"));
        let e = parse_run_filter("foo.bar = 'x'").unwrap_err();
        assert!(e.message.starts_with("Invalid entity type 'foo'"));
        let e = parse_run_filter("params.p = 1").unwrap_err();
        assert!(
            e.message
                .starts_with("Expected a quoted string value for param")
        );
        let e = parse_run_filter("status IN ('a')").unwrap_err();
        assert!(e.message.contains("Only the 'run_id' attribute"));
        assert!(e.to_string().contains("at position"));
    }

    #[test]
    fn registry_filters_include_the_clients_prompt_clause() {
        let c = parse_registered_model_filter(
            "name LIKE 'reg%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        )
        .unwrap();
        assert_eq!(
            c[1].field,
            RegisteredModelField::Tag("mlflow.prompt.is_prompt".into())
        );
        assert_eq!(c[1].op, CmpOp::Ne);
        let c = parse_model_version_filter("name='reg2' and version_number > 1").unwrap();
        assert_eq!(c[1].field, ModelVersionField::VersionNumber);
        assert!(parse_model_version_order_by("version_number DESC").is_ok());
        assert!(parse_registered_model_order_by("timestamp").is_ok());
    }

    #[test]
    fn experiment_and_logged_model_filters() {
        let c =
            parse_experiment_filter("name LIKE 'exp%' and tags.team = 'a' and creation_time > 5")
                .unwrap();
        assert_eq!(c.len(), 3);
        assert!(parse_experiment_order_by("name ASC").is_ok());
        let c = parse_logged_model_filter("name = 'd'").unwrap();
        assert_eq!(c[0].field, LoggedModelField::Attr(LoggedModelAttr::Name));
    }
}
