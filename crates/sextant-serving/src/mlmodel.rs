//! The parts of an MLflow `MLmodel` file that serving needs: the onnx flavor's file, the
//! signature and the stored input example.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Result, ServingError};

#[derive(Debug, Deserialize, Default)]
struct Raw {
    #[serde(default)]
    flavors: serde_yaml::Mapping,
    signature: Option<RawSignature>,
    saved_input_example_info: Option<ExampleInfo>,
    run_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSignature {
    inputs: Option<String>,
    outputs: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ExampleInfo {
    pub artifact_path: Option<String>,
    pub serving_input_path: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// One entry of a signature: a named column or a tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Column {
        name: Option<String>,
        ty: String,
        required: bool,
    },
    Tensor {
        name: Option<String>,
        dtype: String,
        shape: Vec<i64>,
    },
}

impl Spec {
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Column { name, .. } | Self::Tensor { name, .. } => name.as_deref(),
        }
    }
}

/// A model's signature: its inputs and outputs, as MLflow records them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signature {
    pub inputs: Vec<Spec>,
    pub outputs: Vec<Spec>,
}

impl Signature {
    /// The input column names when the input schema is column-based.
    pub fn input_columns(&self) -> Option<Vec<&Spec>> {
        let cols: Vec<&Spec> = self
            .inputs
            .iter()
            .filter(|s| matches!(s, Spec::Column { .. }))
            .collect();
        (!cols.is_empty() && cols.len() == self.inputs.len()).then_some(cols)
    }
}

/// What serving reads from an `MLmodel` file.
#[derive(Debug, Clone, Default)]
pub struct MlModel {
    /// The ONNX file of the `onnx` flavor, relative to the model directory.
    pub onnx_file: Option<String>,
    pub signature: Option<Signature>,
    pub example: Option<ExampleInfo>,
    pub run_id: Option<String>,
}

fn parse_schema(text: &str) -> Result<Vec<Spec>> {
    let v: Vec<Value> =
        serde_json::from_str(text).map_err(|e| ServingError::MlModel(format!("signature: {e}")))?;
    v.into_iter()
        .map(|s| {
            let name = s["name"].as_str().map(str::to_owned);
            match s["type"].as_str() {
                Some("tensor") => {
                    let ts = &s["tensor-spec"];
                    Ok(Spec::Tensor {
                        name,
                        dtype: ts["dtype"].as_str().unwrap_or("").to_owned(),
                        shape: ts["shape"]
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_i64).collect())
                            .unwrap_or_default(),
                    })
                }
                Some(ty) => Ok(Spec::Column {
                    name,
                    ty: ty.to_owned(),
                    required: s["required"].as_bool().unwrap_or(true),
                }),
                None => Err(ServingError::MlModel(format!(
                    "signature entry without a type: {s}"
                ))),
            }
        })
        .collect()
}

impl MlModel {
    pub fn parse(text: &str) -> Result<Self> {
        let raw: Raw =
            serde_yaml::from_str(text).map_err(|e| ServingError::MlModel(e.to_string()))?;
        let onnx_file = raw
            .flavors
            .get("onnx")
            .and_then(|f| f.get("data"))
            .and_then(|d| d.as_str())
            .map(str::to_owned);
        let signature = match raw.signature {
            Some(s) => Some(Signature {
                inputs: s
                    .inputs
                    .as_deref()
                    .map(parse_schema)
                    .transpose()?
                    .unwrap_or_default(),
                outputs: s
                    .outputs
                    .as_deref()
                    .map(parse_schema)
                    .transpose()?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Self {
            onnx_file,
            signature,
            example: raw.saved_input_example_info,
            run_id: raw.run_id,
        })
    }

    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("MLmodel");
        match std::fs::read_to_string(&path) {
            Ok(t) => Self::parse(&t).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ServingError::Io { path, source }),
        }
    }

    /// The stored input example as a scoring request body (MLflow writes it as
    /// `serving_input_example.json`; older models only have `input_example.json`).
    pub fn example_request(&self, dir: &Path) -> Result<Option<Value>> {
        let Some(info) = &self.example else {
            return Ok(None);
        };
        let read = |rel: &str| -> Result<Value> {
            let path = dir.join(rel);
            let text = std::fs::read_to_string(&path).map_err(|source| ServingError::Io {
                path: path.clone(),
                source,
            })?;
            serde_json::from_str(&text)
                .map_err(|e| ServingError::FailEarly(format!("{}: {e}", path.display())))
        };
        if let Some(p) = &info.serving_input_path {
            return read(p).map(Some);
        }
        let Some(p) = &info.artifact_path else {
            return Ok(None);
        };
        let v = read(p)?;
        Ok(Some(match info.kind.as_deref() {
            Some("dataframe") => serde_json::json!({ "dataframe_split": v }),
            _ => serde_json::json!({ "inputs": v }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_onnx_flavor_signature_and_example() {
        let text = r#"
flavors:
  onnx:
    data: model.onnx
saved_input_example_info:
  artifact_path: input_example.json
  serving_input_path: serving_input_example.json
  type: dataframe
signature:
  inputs: '[{"type": "double", "name": "age", "required": true}, {"type": "string", "name": "city", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
run_id: abc
"#;
        let m = MlModel::parse(text).unwrap();
        assert_eq!(m.onnx_file.as_deref(), Some("model.onnx"));
        let sig = m.signature.unwrap();
        assert_eq!(sig.input_columns().unwrap().len(), 2);
        assert_eq!(
            sig.outputs[0],
            Spec::Tensor {
                name: None,
                dtype: "int64".into(),
                shape: vec![-1]
            }
        );
        assert_eq!(
            m.example.unwrap().serving_input_path.as_deref(),
            Some("serving_input_example.json")
        );
    }

    #[test]
    fn a_broken_signature_is_an_error() {
        let text = "flavors: {}\nsignature:\n  inputs: 'not json'\n";
        assert!(matches!(
            MlModel::parse(text),
            Err(ServingError::MlModel(_))
        ));
    }
}
