//! Inference engines behind one trait: ONNX Runtime (loaded at run time) and tract (pure Rust).

pub(crate) mod ort_engine;
pub(crate) mod tract_engine;

use std::str::FromStr;

use crate::error::{Result, ServingError};
use crate::tensor::{IoSpec, Tensor};

/// A loaded ONNX graph that can be run concurrently.
pub trait Engine: Send + Sync {
    /// `ort` or `tract`.
    fn name(&self) -> &'static str;
    /// The graph's inputs, in order.
    fn inputs(&self) -> &[IoSpec];
    /// The graph's outputs, in order.
    fn outputs(&self) -> &[IoSpec];
    /// Run the graph on one tensor per input (in the order of [`Engine::inputs`]); one tensor
    /// per output comes back, in the order of [`Engine::outputs`].
    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>>;
}

/// Which engine to load a model with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// ONNX Runtime when its library can be found, else tract.
    #[default]
    Auto,
    Ort,
    Tract,
}

impl FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "ort" => Ok(Self::Ort),
            "tract" => Ok(Self::Tract),
            other => Err(format!("unknown engine '{other}': use auto, ort or tract")),
        }
    }
}

/// Load `onnx` (the bytes of a `model.onnx`) with the chosen engine.
pub fn load(choice: EngineChoice, onnx: &[u8]) -> Result<Box<dyn Engine>> {
    match choice {
        EngineChoice::Ort => Ok(Box::new(ort_engine::OrtEngine::load(onnx)?)),
        EngineChoice::Tract => Ok(Box::new(tract_engine::TractEngine::load(onnx)?)),
        EngineChoice::Auto => match ort_engine::environment() {
            Ok(_) => Ok(Box::new(ort_engine::OrtEngine::load(onnx)?)),
            Err(ServingError::OrtUnavailable(why)) => {
                tracing::info!(%why, "ONNX Runtime not found; using the tract engine");
                Ok(Box::new(tract_engine::TractEngine::load(onnx)?))
            }
            Err(e) => Err(e),
        },
    }
}

pub use ort_engine::find_ort_library;
