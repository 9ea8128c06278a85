//! A model ready to serve: its engine, signature and identity, checked on its input example
//! before it is served ("fail early").

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::batch::{BatchOptions, Batcher, Ticket};
use crate::engine::{self, Engine, EngineChoice};
use crate::error::{Result, ServingError};
use crate::metrics::Metrics;
use crate::mlmodel::{MlModel, Signature, Spec};
use crate::scoring;
use crate::tensor::{IoSpec, Tensor};

/// One loaded version of a registered model.
pub struct ServedModel {
    pub name: String,
    pub version: String,
    pub engine: Box<dyn Engine>,
    pub signature: Option<Signature>,
    /// The input example as a scoring request, for the demo page.
    pub example: Option<Value>,
    pub run_id: Option<String>,
    /// The micro-batcher of this version, started on its first request when batching is on.
    batcher: OnceLock<Batcher>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("engine", &self.engine.name())
            .finish()
    }
}

impl ServedModel {
    /// Load the model in `dir` (an MLflow model directory with the onnx flavor, or a folder
    /// with a plain `model.onnx`), then run its input example ([`ServedModel::check`]).
    pub fn load(name: &str, version: &str, dir: &Path, choice: EngineChoice) -> Result<Self> {
        let ml = MlModel::read(dir)?;
        let file = ml
            .as_ref()
            .and_then(|m| m.onnx_file.clone())
            .unwrap_or_else(|| "model.onnx".to_owned());
        if ml.is_some() && ml.as_ref().and_then(|m| m.onnx_file.as_ref()).is_none() {
            return Err(ServingError::MlModel(
                "the MLmodel has no onnx flavor: only ONNX models are served (log them with mlflow.onnx.log_model)".into(),
            ));
        }
        let path = dir.join(&file);
        let bytes = std::fs::read(&path).map_err(|source| ServingError::Io {
            path: path.clone(),
            source,
        })?;
        let engine = engine::load(choice, &bytes)?;
        let example = match &ml {
            Some(m) => m.example_request(dir)?,
            None => None,
        };
        let model = Self {
            name: name.to_owned(),
            version: version.to_owned(),
            engine,
            signature: ml.as_ref().and_then(|m| m.signature.clone()),
            example,
            run_id: ml.and_then(|m| m.run_id),
            batcher: OnceLock::new(),
        };
        model.check()?;
        Ok(model)
    }

    /// The graph's inputs for an MLflow-format request body (checked against the signature).
    pub fn inputs_mlflow(&self, body: &Value) -> Result<Vec<Tensor>> {
        let parsed = scoring::parse_mlflow(body)?;
        scoring::to_inputs(&parsed, self.engine.inputs(), self.signature.as_ref())
    }

    /// Predict from MLflow-format request body.
    pub fn predict_mlflow(&self, body: &Value) -> Result<(Vec<Tensor>, usize)> {
        let inputs = self.inputs_mlflow(body)?;
        let rows = inputs.first().map_or(0, Tensor::rows);
        Ok((self.engine.run(inputs)?, rows))
    }

    /// Count a request for this version's micro-batcher as it arrives (started on first use;
    /// needs a tokio runtime); then [`ServedModel::run_batched`] its inputs with the ticket.
    pub fn batch_ticket(&self, opts: BatchOptions, metrics: &Arc<Metrics>) -> Ticket {
        self.batcher(opts, metrics).ticket()
    }

    /// Run `inputs` through this version's micro-batcher.
    pub async fn run_batched(
        self: &Arc<Self>,
        opts: BatchOptions,
        metrics: &Arc<Metrics>,
        inputs: Vec<Tensor>,
        ticket: Ticket,
    ) -> Result<Vec<Tensor>> {
        self.batcher(opts, metrics)
            .run(Arc::clone(self), inputs, ticket)
            .await
    }

    fn batcher(&self, opts: BatchOptions, metrics: &Arc<Metrics>) -> &Batcher {
        self.batcher
            .get_or_init(|| Batcher::start(opts, Arc::clone(metrics)))
    }

    pub fn outputs(&self) -> &[IoSpec] {
        self.engine.outputs()
    }

    /// Fail early: run the stored input example and compare the outputs with the signature.
    pub fn check(&self) -> Result<()> {
        let Some(example) = &self.example else {
            tracing::warn!(model = %self.name, version = %self.version, "no input example stored: the model is served unchecked");
            return Ok(());
        };
        let (outputs, rows) = self
            .predict_mlflow(example)
            .map_err(|e| ServingError::FailEarly(e.to_string()))?;
        for (spec, t) in self.outputs().iter().zip(&outputs) {
            if t.shape.first().copied() != Some(rows) && !t.shape.is_empty() {
                return Err(ServingError::FailEarly(format!(
                    "output '{}' has {:?} rows for {rows} input rows",
                    spec.name,
                    t.shape.first()
                )));
            }
        }
        let Some(sig) = &self.signature else {
            return Ok(());
        };
        for (i, s) in sig.outputs.iter().enumerate() {
            let ix = s
                .name()
                .and_then(|n| self.outputs().iter().position(|o| o.name == n))
                .unwrap_or(i);
            let Some(t) = outputs.get(ix) else {
                return Err(ServingError::FailEarly(format!(
                    "the signature has {} outputs, the model {}",
                    sig.outputs.len(),
                    outputs.len()
                )));
            };
            if let Spec::Tensor { dtype, shape, .. } = s {
                let got = t.data.ty().as_str();
                if dtype != got {
                    return Err(ServingError::FailEarly(format!(
                        "output {ix} is {got}, the signature says {dtype}"
                    )));
                }
                let fits = shape.len() == t.shape.len()
                    && shape
                        .iter()
                        .zip(&t.shape)
                        .all(|(&want, &have)| want < 0 || want as usize == have);
                if !fits {
                    return Err(ServingError::FailEarly(format!(
                        "output {ix} has shape {:?}, the signature says {shape:?}",
                        t.shape
                    )));
                }
            }
        }
        Ok(())
    }
}
