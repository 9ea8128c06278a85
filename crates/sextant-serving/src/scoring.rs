//! Request bodies to input tensors, and outputs to answers: MLflow's scoring protocol
//! (`dataframe_split`, `dataframe_records`, `instances`, `inputs`) and KServe V2.
//!
//! Inputs are checked against the ONNX graph and the model's signature; a mismatch is a
//! [`ServingError::BadInput`] naming the column or input, which the HTTP layer answers with 400.

use serde_json::{Map, Value, json};

use crate::error::{Result, ServingError};
use crate::mlmodel::{Signature, Spec};
use crate::tensor::{ElemType, IoSpec, Tensor, from_json_scalars};

/// A request body after its outer format is recognised.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// One tensor (a nested array).
    Tensor(Value),
    /// Named tensors.
    Named(Map<String, Value>),
    /// A table: column names and rows.
    Columns {
        names: Vec<String>,
        rows: Vec<Vec<Value>>,
    },
}

fn bad(msg: impl Into<String>) -> ServingError {
    ServingError::BadInput(msg.into())
}

/// Recognise MLflow's scoring formats.
pub fn parse_mlflow(body: &Value) -> Result<Parsed> {
    let obj = body.as_object().ok_or_else(|| {
        bad("the request body must be a JSON object with one of dataframe_split, dataframe_records, instances, inputs")
    })?;
    let keys: Vec<&str> = [
        "dataframe_split",
        "dataframe_records",
        "instances",
        "inputs",
    ]
    .into_iter()
    .filter(|k| obj.contains_key(*k))
    .collect();
    let key = match keys.as_slice() {
        [k] => *k,
        [] => {
            return Err(bad(format!(
                "the request has none of dataframe_split, dataframe_records, instances, inputs (keys: {})",
                obj.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        many => {
            return Err(bad(format!(
                "the request has several input formats ({}); send one",
                many.join(", ")
            )));
        }
    };
    let v = &obj[key];
    match key {
        "dataframe_split" => {
            let names: Vec<String> = v["columns"]
                .as_array()
                .ok_or_else(|| bad("dataframe_split needs \"columns\": [...]"))?
                .iter()
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let rows = v["data"]
                .as_array()
                .ok_or_else(|| bad("dataframe_split needs \"data\": [[...], ...]"))?;
            let rows = rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let r = r
                        .as_array()
                        .ok_or_else(|| bad(format!("dataframe_split row {i} is not an array")))?;
                    if r.len() != names.len() {
                        return Err(bad(format!(
                            "dataframe_split row {i} has {} values for {} columns",
                            r.len(),
                            names.len()
                        )));
                    }
                    Ok(r.clone())
                })
                .collect::<Result<_>>()?;
            Ok(Parsed::Columns { names, rows })
        }
        "dataframe_records" => records(v, "dataframe_records"),
        _ => match v {
            Value::Object(m) => Ok(Parsed::Named(m.clone())),
            Value::Array(a) if a.first().is_some_and(Value::is_object) => records(v, key),
            Value::Array(_) => Ok(Parsed::Tensor(v.clone())),
            _ => Err(bad(format!(
                "\"{key}\" must be an array or an object of named arrays"
            ))),
        },
    }
}

fn records(v: &Value, key: &str) -> Result<Parsed> {
    let recs = v
        .as_array()
        .ok_or_else(|| bad(format!("{key} must be an array of objects")))?;
    let mut names: Vec<String> = Vec::new();
    for r in recs {
        let r = r
            .as_object()
            .ok_or_else(|| bad(format!("{key} must be an array of objects")))?;
        for k in r.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let rows = recs
        .iter()
        .map(|r| {
            names
                .iter()
                .map(|n| r.get(n).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Ok(Parsed::Columns { names, rows })
}

/// Shape and flat values of a nested JSON array.
fn flatten(v: &Value, what: &str) -> Result<(Vec<usize>, Vec<Value>)> {
    fn shape_of(v: &Value) -> Vec<usize> {
        match v {
            Value::Array(a) => {
                let mut s = vec![a.len()];
                if let Some(first) = a.first() {
                    s.extend(shape_of(first));
                }
                s
            }
            _ => vec![],
        }
    }
    fn walk(v: &Value, shape: &[usize], out: &mut Vec<Value>, what: &str) -> Result<()> {
        match (v, shape.split_first()) {
            (Value::Array(a), Some((&n, rest))) if a.len() == n => {
                a.iter().try_for_each(|x| walk(x, rest, out, what))
            }
            (Value::Array(_), _) | (_, Some(_)) => Err(bad(format!(
                "{what}: the nested arrays are ragged (not a tensor)"
            ))),
            (x, None) => {
                out.push(x.clone());
                Ok(())
            }
        }
    }
    let shape = shape_of(v);
    let mut flat = Vec::new();
    walk(v, &shape, &mut flat, what)?;
    Ok((shape, flat))
}

/// Fit `shape` to what the graph input declares: a 1-D list for a `[N, 1]` input becomes
/// `[N, 1]`; a rank or a fixed dimension that differs is an error naming the input.
fn fit_shape(spec: &IoSpec, mut shape: Vec<usize>) -> Result<Vec<usize>> {
    if spec.shape.len() == 2 && shape.len() == 1 && spec.shape[1] == Some(1) {
        shape.push(1);
    }
    if spec.shape.len() == 2 && shape.len() == 1 && spec.shape[1].is_some_and(|k| k == shape[0]) {
        shape.insert(0, 1);
    }
    let want = || {
        format!(
            "[{}]",
            spec.shape
                .iter()
                .map(|d| d.map_or("-1".to_owned(), |v| v.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if !spec.shape.is_empty() && spec.shape.len() != shape.len() {
        return Err(bad(format!(
            "input '{}' expects shape {}, got {shape:?}",
            spec.name,
            want()
        )));
    }
    for (d, s) in spec.shape.iter().zip(&shape) {
        if d.is_some_and(|d| d != *s) {
            return Err(bad(format!(
                "input '{}' expects shape {}, got {shape:?}",
                spec.name,
                want()
            )));
        }
    }
    Ok(shape)
}

fn tensor_for(spec: &IoSpec, v: &Value) -> Result<Tensor> {
    let what = format!("input '{}'", spec.name);
    let (shape, flat) = flatten(v, &what)?;
    let shape = fit_shape(spec, shape)?;
    let refs: Vec<&Value> = flat.iter().collect();
    from_json_scalars(spec.ty, &refs, shape, &what).map_err(bad)
}

fn column_type_ok(ty: &str, e: ElemType) -> bool {
    matches!(
        (ty, e),
        (
            "double" | "float" | "long" | "integer",
            ElemType::F32 | ElemType::F64 | ElemType::I64 | ElemType::I32
        ) | ("string", ElemType::Str)
            | ("boolean", ElemType::Bool | ElemType::I64)
    )
}

/// The graph's input tensors for a parsed request, in the order of `inputs`.
pub fn to_inputs(
    parsed: &Parsed,
    inputs: &[IoSpec],
    signature: Option<&Signature>,
) -> Result<Vec<Tensor>> {
    match parsed {
        Parsed::Tensor(v) => match inputs {
            [one] => Ok(vec![tensor_for(one, v)?]),
            many => Err(bad(format!(
                "the model has {} inputs ({}): send them by name ({{\"inputs\": {{\"NAME\": [...]}}}}) or as columns",
                many.len(),
                many.iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
        Parsed::Named(m) => inputs
            .iter()
            .map(|spec| {
                let v = m
                    .get(&spec.name)
                    .ok_or_else(|| bad(format!("missing input '{}'", spec.name)))?;
                tensor_for(spec, v)
            })
            .collect(),
        Parsed::Columns { names, rows } => columns_to_inputs(names, rows, inputs, signature),
    }
}

fn columns_to_inputs(
    names: &[String],
    rows: &[Vec<Value>],
    inputs: &[IoSpec],
    sig: Option<&Signature>,
) -> Result<Vec<Tensor>> {
    let col = |name: &str| names.iter().position(|n| n == name);
    // The signature's columns are checked first: missing or mistyped ones are named.
    let sig_cols: Vec<(&str, &str, bool)> = sig
        .and_then(Signature::input_columns)
        .map(|cols| {
            cols.into_iter()
                .filter_map(|s| match s {
                    Spec::Column {
                        name: Some(n),
                        ty,
                        required,
                    } => Some((n.as_str(), ty.as_str(), *required)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for (n, _, required) in &sig_cols {
        if *required && col(n).is_none() {
            return Err(bad(format!(
                "missing column '{n}' (the model's signature requires it)"
            )));
        }
    }
    let n_rows = rows.len();
    let values_of = |ix: usize| -> Vec<&Value> { rows.iter().map(|r| &r[ix]).collect() };
    let by_name = inputs.iter().all(|i| col(&i.name).is_some());
    if by_name && !(inputs.len() == 1 && names.len() > 1) {
        // One column per graph input (skl2onnx's per-column inputs for mixed types).
        return inputs
            .iter()
            .map(|spec| {
                let ix = col(&spec.name)
                    .ok_or_else(|| bad(format!("missing column '{}'", spec.name)))?;
                let shape = if spec.shape.len() == 2 {
                    vec![n_rows, 1]
                } else {
                    vec![n_rows]
                };
                from_json_scalars(
                    spec.ty,
                    &values_of(ix),
                    shape,
                    &format!("column '{}'", spec.name),
                )
                .map_err(bad)
            })
            .collect();
    }
    match inputs {
        [one] => {
            // All columns stacked into the one [N, k] input, in the signature's order if it
            // names the columns, else in the request's.
            let order: Vec<usize> = if sig_cols.is_empty() {
                (0..names.len()).collect()
            } else {
                sig_cols.iter().filter_map(|(n, _, _)| col(n)).collect()
            };
            if let Some(k) = one.shape.get(1).copied().flatten()
                && k != order.len()
            {
                return Err(bad(format!(
                    "input '{}' takes {k} columns, the request has {}",
                    one.name,
                    order.len()
                )));
            }
            for &ix in &order {
                let what = format!("column '{}'", names[ix]);
                if let Some((_, ty, _)) = sig_cols.iter().find(|(n, _, _)| *n == names[ix])
                    && !column_type_ok(ty, one.ty)
                {
                    return Err(bad(format!("{what}: the signature says {ty}")));
                }
                from_json_scalars(one.ty, &values_of(ix), vec![n_rows], &what).map_err(bad)?;
            }
            let flat: Vec<&Value> = rows
                .iter()
                .flat_map(|r| order.iter().map(move |&ix| &r[ix]))
                .collect();
            let t = from_json_scalars(
                one.ty,
                &flat,
                vec![n_rows, order.len()],
                &format!("input '{}'", one.name),
            )
            .map_err(bad)?;
            Ok(vec![t])
        }
        many => {
            let missing = many
                .iter()
                .find(|i| col(&i.name).is_none())
                .map(|i| i.name.clone())
                .unwrap_or_default();
            Err(bad(format!("missing column '{missing}'")))
        }
    }
}

/// MLflow's answer: `{"predictions": ...}`, the one output's values, or an object of outputs.
pub fn mlflow_answer(outputs: &[IoSpec], values: &[Tensor]) -> Value {
    match values {
        [one] => json!({ "predictions": one.to_json() }),
        many => {
            let m: Map<String, Value> = outputs
                .iter()
                .zip(many)
                .map(|(s, t)| (s.name.clone(), t.to_json()))
                .collect();
            json!({ "predictions": m })
        }
    }
}

/// KServe V2: `{"inputs": [{"name", "shape", "datatype", "data"}]}` to the graph's inputs.
pub fn parse_v2(body: &Value, inputs: &[IoSpec]) -> Result<Vec<Tensor>> {
    let list = body["inputs"]
        .as_array()
        .ok_or_else(|| bad("the request needs \"inputs\": [{name, shape, datatype, data}]"))?;
    inputs
        .iter()
        .map(|spec| {
            let item = list
                .iter()
                .find(|i| i["name"].as_str() == Some(spec.name.as_str()))
                .or_else(|| (inputs.len() == 1 && list.len() == 1).then(|| &list[0]))
                .ok_or_else(|| bad(format!("missing input '{}'", spec.name)))?;
            let what = format!("input '{}'", spec.name);
            let shape: Vec<usize> = item["shape"]
                .as_array()
                .ok_or_else(|| bad(format!("{what} needs a \"shape\"")))?
                .iter()
                .map(|d| {
                    d.as_u64()
                        .map(|d| d as usize)
                        .ok_or_else(|| bad(format!("{what}: shape must be non-negative integers")))
                })
                .collect::<Result<_>>()?;
            if let Some(dt) = item["datatype"].as_str()
                && dt != spec.ty.v2()
            {
                return Err(bad(format!(
                    "{what} has datatype {dt}, the model takes {}",
                    spec.ty.v2()
                )));
            }
            let (_, flat) = flatten(&item["data"], &what)?;
            let n: usize = shape.iter().product();
            if flat.len() != n {
                return Err(bad(format!(
                    "{what}: shape {shape:?} needs {n} values, data has {}",
                    flat.len()
                )));
            }
            let shape = fit_shape(spec, shape)?;
            let refs: Vec<&Value> = flat.iter().collect();
            from_json_scalars(spec.ty, &refs, shape, &what).map_err(bad)
        })
        .collect()
}

/// KServe V2's answer.
pub fn v2_answer(model: &str, version: &str, outputs: &[IoSpec], values: &[Tensor]) -> Value {
    let outs: Vec<Value> = outputs
        .iter()
        .zip(values)
        .map(|(s, t)| json!({ "name": s.name, "shape": t.shape, "datatype": s.ty.v2(), "data": t.data.to_json_flat() }))
        .collect();
    json!({ "model_name": model, "model_version": version, "outputs": outs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Data;

    fn x4() -> Vec<IoSpec> {
        vec![IoSpec {
            name: "X".into(),
            ty: ElemType::F32,
            shape: vec![None, Some(4)],
        }]
    }

    #[test]
    fn every_mlflow_format_gives_the_same_tensor() {
        let bodies = [
            json!({"inputs": [[1, 2, 3, 4], [5, 6, 7, 8]]}),
            json!({"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}),
            json!({"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}}),
            json!({"dataframe_records": [{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 5, "b": 6, "c": 7, "d": 8}]}),
            json!({"inputs": {"X": [[1, 2, 3, 4], [5, 6, 7, 8]]}}),
        ];
        for b in bodies {
            let t = to_inputs(&parse_mlflow(&b).unwrap(), &x4(), None).unwrap();
            assert_eq!(t[0].shape, vec![2, 4], "{b}");
            assert_eq!(
                t[0].data,
                Data::F32((1..=8).map(|x| x as f32).collect()),
                "{b}"
            );
        }
    }

    #[test]
    fn per_column_inputs_and_errors_name_the_column() {
        let inputs = vec![
            IoSpec {
                name: "age".into(),
                ty: ElemType::F32,
                shape: vec![None, Some(1)],
            },
            IoSpec {
                name: "city".into(),
                ty: ElemType::Str,
                shape: vec![None, Some(1)],
            },
        ];
        let ok = json!({"dataframe_records": [{"age": 3.0, "city": "Oslo"}]});
        let t = to_inputs(&parse_mlflow(&ok).unwrap(), &inputs, None).unwrap();
        assert_eq!(t[1].data, Data::Str(vec!["Oslo".into()]));
        assert_eq!(t[0].shape, vec![1, 1]);
        let missing = json!({"dataframe_records": [{"age": 3.0}]});
        let e = to_inputs(&parse_mlflow(&missing).unwrap(), &inputs, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'city'"), "{e}");
        let wrong = json!({"dataframe_records": [{"age": "old", "city": "Oslo"}]});
        let e = to_inputs(&parse_mlflow(&wrong).unwrap(), &inputs, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("column 'age'"), "{e}");
    }

    #[test]
    fn shape_mismatch_and_unknown_format_are_refused() {
        let e = to_inputs(
            &parse_mlflow(&json!({"inputs": [[1, 2, 3]]})).unwrap(),
            &x4(),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("input 'X' expects shape [-1, 4]"),
            "{e}"
        );
        assert!(parse_mlflow(&json!({"rows": []})).is_err());
        assert!(parse_mlflow(&json!({"inputs": [], "instances": []})).is_err());
    }

    #[test]
    fn kserve_v2_round_trip() {
        let body = json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]});
        let t = parse_v2(&body, &x4()).unwrap();
        assert_eq!(t[0].shape, vec![1, 4]);
        let e = parse_v2(&json!({"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}), &x4()).unwrap_err();
        assert!(e.to_string().contains("needs 8 values"), "{e}");
        let ans = v2_answer("m", "1", &x4(), &t);
        assert_eq!(ans["outputs"][0]["data"], json!([1.0, 2.0, 3.0, 4.0]));
    }
}
