//! The pure-Rust `tract` engine: the fallback when no ONNX Runtime is installed.
//!
//! tract implements part of ONNX's `ai.onnx.ml` domain, and some of it gives wrong answers on
//! scikit-learn exports. A model is checked before it is loaded: an operator tract does not
//! implement, or one in [`KNOWN_WRONG`], refuses the model with the operator named.

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::error::{Result, ServingError};
use crate::tensor::{Data, ElemType, IoSpec, Tensor as Tn};

/// Operators tract loads but answers wrongly for, measured on skl2onnx 1.20 exports with
/// tract-onnx 0.23.9 (tests/serving): with this rule off, 9 of 20 labels of a binary random
/// forest came back wrong, while 3-class trees matched ONNX Runtime. (operator, reason).
const KNOWN_WRONG: &[(&str, &str)] = &[(
    "TreeEnsembleClassifier",
    "with two classes (binary random forest, decision tree, gradient boosting), tract returns wrong labels",
)];

type Plan = std::sync::Arc<TypedSimplePlan>;

pub struct TractEngine {
    plan: Plan,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

fn refuse(operator: &str, reason: impl Into<String>) -> ServingError {
    ServingError::Unsupported {
        engine: "tract",
        operator: operator.to_owned(),
        reason: reason.into(),
    }
}

fn load_err(e: impl std::fmt::Display) -> ServingError {
    ServingError::Load {
        engine: "tract",
        reason: format!("{e:#}"),
    }
}

/// Refuse what tract cannot run correctly, naming the operator.
pub(crate) fn check_operators(onnx: &tract_onnx::Onnx, proto: &ModelProto) -> Result<()> {
    let Some(graph) = &proto.graph else {
        return Err(load_err("the ONNX file has no graph"));
    };
    for node in &graph.node {
        let op = node.op_type.as_str();
        if !onnx.op_register.0.contains_key(op) {
            return Err(refuse(op, "tract does not implement it"));
        }
        if op == "TreeEnsembleClassifier" {
            let classes = node
                .attribute
                .iter()
                .find(|a| a.name == "classlabels_int64s" || a.name == "classlabels_strings")
                .map(|a| a.ints.len().max(a.strings.len()))
                .unwrap_or(0);
            if classes == 2 {
                let (name, why) = KNOWN_WRONG[0];
                return Err(refuse(name, why));
            }
        }
    }
    Ok(())
}

fn elem(dt: DatumType) -> Option<ElemType> {
    Some(match dt {
        DatumType::F32 => ElemType::F32,
        DatumType::F64 => ElemType::F64,
        // tract computes some integer outputs (an ArgMax's labels) as symbolic dimensions.
        DatumType::I64 | DatumType::TDim => ElemType::I64,
        DatumType::I32 => ElemType::I32,
        DatumType::Bool => ElemType::Bool,
        DatumType::String => ElemType::Str,
        _ => return None,
    })
}

fn datum(ty: ElemType) -> DatumType {
    match ty {
        ElemType::F32 => DatumType::F32,
        ElemType::F64 => DatumType::F64,
        ElemType::I64 => DatumType::I64,
        ElemType::I32 => DatumType::I32,
        ElemType::Bool => DatumType::Bool,
        ElemType::Str => DatumType::String,
    }
}

/// The declared input types and shapes from the ONNX proto (dimension unknown -> None).
fn proto_inputs(proto: &ModelProto) -> Result<Vec<IoSpec>> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| load_err("the ONNX file has no graph"))?;
    let inits: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|i| i.name.as_str()).collect();
    let mut out = Vec::new();
    for i in graph
        .input
        .iter()
        .filter(|i| !inits.contains(i.name.as_str()))
    {
        use tract_onnx::pb::type_proto::Value as V;
        let Some(V::TensorType(tt)) = i.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            return Err(refuse(&format!("input '{}'", i.name), "not a tensor"));
        };
        let dt = tract_onnx::pb::tensor_proto::DataType::try_from(tt.elem_type)
            .ok()
            .and_then(|d| d.try_into().ok())
            .and_then(elem)
            .ok_or_else(|| refuse(&format!("input '{}'", i.name), "element type not served"))?;
        let shape =
            tt.shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(
                                tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v),
                            ) if *v > 0 => Some(*v as usize),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
        out.push(IoSpec {
            name: i.name.clone(),
            ty: dt,
            shape,
        });
    }
    Ok(out)
}

impl TractEngine {
    pub fn load(bytes: &[u8]) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(load_err)?;
        check_operators(&onnx, &proto)?;
        let inputs = proto_inputs(&proto)?;
        let mut model = onnx.model_for_proto_model(&proto).map_err(load_err)?;
        let batch = model.symbols.sym("N");
        for (ix, spec) in inputs.iter().enumerate() {
            let dims: TVec<TDim> = spec
                .shape
                .iter()
                .enumerate()
                .map(|(k, d)| match d {
                    Some(v) => TDim::from(*v as i64),
                    None if k == 0 => TDim::Sym(batch.clone()),
                    None => TDim::Sym(model.symbols.sym(&format!("d{ix}_{k}"))),
                })
                .collect();
            model
                .set_input_fact(ix, InferenceFact::dt_shape(datum(spec.ty), dims))
                .map_err(load_err)?;
        }
        let typed = model.into_typed().map_err(load_err)?;
        let mut outputs = Vec::new();
        for (k, outlet) in typed.output_outlets().map_err(load_err)?.iter().enumerate() {
            let fact = typed.outlet_fact(*outlet).map_err(load_err)?;
            let name = typed
                .outlet_label(*outlet)
                .map(str::to_owned)
                .unwrap_or_else(|| typed.node(outlet.node).name.clone());
            let name = proto
                .graph
                .as_ref()
                .and_then(|g| g.output.get(k))
                .map(|o| o.name.clone())
                .unwrap_or(name);
            let ty = elem(fact.datum_type).ok_or_else(|| {
                refuse(
                    &format!("output '{name}'"),
                    format!("element type {:?} is not served", fact.datum_type),
                )
            })?;
            let shape = fact
                .shape
                .iter()
                .map(|d| match d {
                    TDim::Val(v) => usize::try_from(*v).ok(),
                    _ => None,
                })
                .collect();
            outputs.push(IoSpec { name, ty, shape });
        }
        let plan = typed
            .into_optimized()
            .map_err(load_err)?
            .into_runnable()
            .map_err(load_err)?;
        Ok(Self {
            plan,
            inputs,
            outputs,
        })
    }
}

fn to_tract(t: Tn) -> Result<Tensor> {
    fn arr<T: Datum>(shape: &[usize], v: Vec<T>) -> Result<Tensor> {
        tract_ndarray::ArrayD::from_shape_vec(tract_ndarray::IxDyn(shape), v)
            .map(IntoTensor::into_tensor)
            .map_err(|e| ServingError::Inference(e.to_string()))
    }
    let shape = t.shape;
    match t.data {
        Data::F32(v) => arr(&shape, v),
        Data::F64(v) => arr(&shape, v),
        Data::I64(v) => arr(&shape, v),
        Data::I32(v) => arr(&shape, v),
        Data::Bool(v) => arr(&shape, v),
        Data::Str(v) => arr(&shape, v),
    }
}

fn from_tract(t: &Tensor) -> Result<Tn> {
    fn vals<T: Datum + Clone>(t: &Tensor) -> Result<Vec<T>> {
        t.to_plain_array_view::<T>()
            .map(|a| a.iter().cloned().collect())
            .map_err(|e| ServingError::Inference(format!("{e:#}")))
    }
    let shape = t.shape().to_vec();
    let data = match t.datum_type() {
        DatumType::F32 => Data::F32(vals(t)?),
        DatumType::F64 => Data::F64(vals(t)?),
        DatumType::I64 => Data::I64(vals(t)?),
        DatumType::TDim => {
            let cast = t
                .cast_to::<i64>()
                .map_err(|e| ServingError::Inference(format!("{e:#}")))?;
            Data::I64(vals(&cast)?)
        }
        DatumType::I32 => Data::I32(vals(t)?),
        DatumType::Bool => Data::Bool(vals(t)?),
        DatumType::String => Data::Str(vals(t)?),
        other => {
            return Err(ServingError::Inference(format!(
                "output of type {other:?} is not served"
            )));
        }
    };
    Ok(Tn { shape, data })
}

impl super::Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }
    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }
    fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }
    fn run(&self, inputs: Vec<Tn>) -> Result<Vec<Tn>> {
        let tv: TVec<TValue> = inputs
            .into_iter()
            .map(|t| to_tract(t).map(|t| t.into()))
            .collect::<Result<_>>()?;
        let out = self
            .plan
            .run(tv)
            .map_err(|e| ServingError::Inference(format!("{e:#}")))?;
        out.iter().map(|v| from_tract(v)).collect()
    }
}
