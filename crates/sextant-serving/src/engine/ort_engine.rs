//! ONNX Runtime through the `ort` crate, its shared library loaded at run time
//! (`ORT_DYLIB_PATH`, or the one inside an installed `onnxruntime` Python package).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorElementType, ValueType};

use crate::error::{Result, ServingError};
use crate::tensor::{Data, ElemType, IoSpec, Tensor};

/// The variable naming the ONNX Runtime shared library (the `ort` crate's own).
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// Sessions per model: requests run on whichever is free.
const SESSIONS: usize = 2;

static ENV: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub(crate) fn environment() -> Result<&'static Environment> {
    ENV.get_or_init(|| {
        let path = find_ort_library().ok_or_else(|| {
            "no libonnxruntime found (ORT_DYLIB_PATH unset, no onnxruntime Python package in $VIRTUAL_ENV, ./.venv or python3)".to_owned()
        })?;
        tracing::info!(path = %path.display(), "loading ONNX Runtime");
        let builder = ort::init_from(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder.with_name("sextant-serve").build().map_err(|e| format!("{}: {e}", path.display()))
    })
    .as_ref()
    .map_err(|e| ServingError::OrtUnavailable(e.clone()))
}

/// Where the ONNX Runtime library is: `ORT_DYLIB_PATH`, else inside an `onnxruntime` Python
/// package under `$VIRTUAL_ENV`, a `.venv` in the current directory or one of its parents, or
/// the one `python3` imports.
pub fn find_ort_library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ORT_DYLIB_PATH).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut venvs: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        venvs.push(PathBuf::from(v));
    }
    if let Ok(cwd) = std::env::current_dir() {
        venvs.extend(cwd.ancestors().map(|a| a.join(".venv")));
    }
    for venv in venvs {
        for lib in ["lib", "lib64"] {
            let Ok(entries) = std::fs::read_dir(venv.join(lib)) else {
                continue;
            };
            for e in entries.flatten() {
                let capi = e.path().join("site-packages/onnxruntime/capi");
                if let Some(p) = dylib_in(&capi) {
                    return Some(p);
                }
            }
        }
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || dir.is_empty() {
        return None;
    }
    dylib_in(&Path::new(&dir).join("capi"))
}

fn dylib_in(capi: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(capi)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("libonnxruntime.so")
                    || n.starts_with("libonnxruntime.") && n.ends_with(".dylib")
            })
        })
        .collect();
    found.sort();
    found.pop()
}

/// A model loaded in ONNX Runtime: a few sessions, each used by one request at a time.
pub struct OrtEngine {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

fn elem(ty: TensorElementType) -> Option<ElemType> {
    Some(match ty {
        TensorElementType::Float32 => ElemType::F32,
        TensorElementType::Float64 => ElemType::F64,
        TensorElementType::Int64 => ElemType::I64,
        TensorElementType::Int32 => ElemType::I32,
        TensorElementType::Bool => ElemType::Bool,
        TensorElementType::String => ElemType::Str,
        _ => return None,
    })
}

fn spec(name: &str, dtype: &ValueType, what: &str) -> Result<IoSpec> {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => {
            let ty = elem(*ty).ok_or_else(|| ServingError::Unsupported {
                engine: "ort",
                operator: format!("{what} '{name}'"),
                reason: format!("element type {ty:?} is not served"),
            })?;
            Ok(IoSpec {
                name: name.to_owned(),
                ty,
                shape: shape.iter().map(|&d| usize::try_from(d).ok()).collect(),
            })
        }
        other => Err(ServingError::Unsupported {
            engine: "ort",
            operator: format!("{what} '{name}'"),
            reason: format!(
                "it is a {other:?}, not a tensor (a ZipMap output?); convert with skl2onnx options={{'zipmap': False}}"
            ),
        }),
    }
}

fn ort_err(e: impl std::fmt::Display) -> ServingError {
    ServingError::Inference(e.to_string())
}

impl OrtEngine {
    pub fn load(onnx: &[u8]) -> Result<Self> {
        let env = environment()?;
        let load = |e: String| ServingError::Load {
            engine: "ort",
            reason: e,
        };
        let mut sessions = Vec::with_capacity(SESSIONS);
        for _ in 0..SESSIONS {
            let s = Session::builder(env)
                .map_err(|e| load(e.to_string()))?
                .with_intra_threads(1)
                .map_err(|e| load(e.to_string()))?
                .commit_from_memory(onnx)
                .map_err(|e| load(e.to_string()))?;
            sessions.push(s);
        }
        let first = &sessions[0];
        let inputs = first
            .inputs()
            .iter()
            .map(|o| spec(o.name(), o.dtype(), "input"))
            .collect::<Result<_>>()?;
        let outputs = first
            .outputs()
            .iter()
            .map(|o| spec(o.name(), o.dtype(), "output"))
            .collect::<Result<_>>()?;
        Ok(Self {
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
            inputs,
            outputs,
        })
    }
}

fn to_value(t: Tensor) -> Result<DynValue> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    Ok(match t.data {
        Data::F32(v) => ort::value::Tensor::from_array((shape, v))
            .map_err(ort_err)?
            .into_dyn(),
        Data::F64(v) => ort::value::Tensor::from_array((shape, v))
            .map_err(ort_err)?
            .into_dyn(),
        Data::I64(v) => ort::value::Tensor::from_array((shape, v))
            .map_err(ort_err)?
            .into_dyn(),
        Data::I32(v) => ort::value::Tensor::from_array((shape, v))
            .map_err(ort_err)?
            .into_dyn(),
        Data::Bool(v) => ort::value::Tensor::from_array((shape, v))
            .map_err(ort_err)?
            .into_dyn(),
        Data::Str(v) => ort::value::Tensor::from_string_array((shape, v.as_slice()))
            .map_err(ort_err)?
            .into_dyn(),
    })
}

fn from_value(v: &DynValue, ty: ElemType) -> Result<Tensor> {
    fn prim<T: ort::value::PrimitiveTensorElementType + Clone>(
        v: &DynValue,
    ) -> Result<(Vec<usize>, Vec<T>)> {
        let (shape, data) = v.try_extract_tensor::<T>().map_err(ort_err)?;
        Ok((
            shape.iter().map(|&d| d.max(0) as usize).collect(),
            data.to_vec(),
        ))
    }
    Ok(match ty {
        ElemType::F32 => prim::<f32>(v).map(|(s, d)| Tensor {
            shape: s,
            data: Data::F32(d),
        })?,
        ElemType::F64 => prim::<f64>(v).map(|(s, d)| Tensor {
            shape: s,
            data: Data::F64(d),
        })?,
        ElemType::I64 => prim::<i64>(v).map(|(s, d)| Tensor {
            shape: s,
            data: Data::I64(d),
        })?,
        ElemType::I32 => prim::<i32>(v).map(|(s, d)| Tensor {
            shape: s,
            data: Data::I32(d),
        })?,
        ElemType::Bool => prim::<bool>(v).map(|(s, d)| Tensor {
            shape: s,
            data: Data::Bool(d),
        })?,
        ElemType::Str => {
            let (shape, data) = v.try_extract_strings().map_err(ort_err)?;
            Tensor {
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: Data::Str(data),
            }
        }
    })
}

impl super::Engine for OrtEngine {
    fn name(&self) -> &'static str {
        "ort"
    }
    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }
    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>> {
        let mut feed: Vec<(String, SessionInputValue<'static>)> = Vec::with_capacity(inputs.len());
        for (spec, t) in self.inputs.iter().zip(inputs) {
            feed.push((spec.name.clone(), to_value(t)?.into()));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // Take a free session if there is one; otherwise wait for the next in turn.
        let n = self.sessions.len();
        let mut guard = (0..n)
            .find_map(|i| self.sessions[(start + i) % n].try_lock().ok())
            .map_or_else(|| self.sessions[start % n].lock(), Ok)
            .map_err(|_| {
                ServingError::Inference("an ONNX Runtime session panicked earlier".into())
            })?;
        let out = guard.run(feed).map_err(ort_err)?;
        self.outputs
            .iter()
            .map(|o| {
                let v = out
                    .get(&o.name)
                    .ok_or_else(|| ServingError::Inference(format!("no output '{}'", o.name)))?;
                from_value(v, o.ty)
            })
            .collect()
    }
}
