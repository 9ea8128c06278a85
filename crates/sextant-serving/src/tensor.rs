//! Engine-neutral tensors: what requests are decoded into and what engines return.

use serde_json::Value;

/// The element types the served models use (skl2onnx exports use these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F32,
    F64,
    I64,
    I32,
    Bool,
    Str,
}

impl ElemType {
    /// The name ONNX and MLflow signatures use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F64 => "float64",
            Self::I64 => "int64",
            Self::I32 => "int32",
            Self::Bool => "bool",
            Self::Str => "string",
        }
    }

    /// The KServe V2 datatype name.
    pub fn v2(self) -> &'static str {
        match self {
            Self::F32 => "FP32",
            Self::F64 => "FP64",
            Self::I64 => "INT64",
            Self::I32 => "INT32",
            Self::Bool => "BOOL",
            Self::Str => "BYTES",
        }
    }
}

/// A model input or output as the ONNX graph declares it (`None` = a dynamic dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct IoSpec {
    pub name: String,
    pub ty: ElemType,
    pub shape: Vec<Option<usize>>,
}

/// The values of a tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

impl Data {
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ty(&self) -> ElemType {
        match self {
            Self::F32(_) => ElemType::F32,
            Self::F64(_) => ElemType::F64,
            Self::I64(_) => ElemType::I64,
            Self::I32(_) => ElemType::I32,
            Self::Bool(_) => ElemType::Bool,
            Self::Str(_) => ElemType::Str,
        }
    }

    fn json_at(&self, i: usize) -> Value {
        match self {
            Self::F32(v) => json_f64(f64::from(v[i])),
            Self::F64(v) => json_f64(v[i]),
            Self::I64(v) => Value::from(v[i]),
            Self::I32(v) => Value::from(v[i]),
            Self::Bool(v) => Value::from(v[i]),
            Self::Str(v) => Value::from(v[i].clone()),
        }
    }

    /// The values as a flat JSON array.
    pub fn to_json_flat(&self) -> Vec<Value> {
        (0..self.len()).map(|i| self.json_at(i)).collect()
    }
}

fn json_f64(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// A tensor: a shape and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    /// The values nested by the shape, as `mlflow models serve` answers.
    pub fn to_json(&self) -> Value {
        fn nest(data: &Data, shape: &[usize], offset: usize) -> Value {
            match shape.split_first() {
                None => data.json_at(offset),
                Some((&n, rest)) => {
                    let stride: usize = rest.iter().product();
                    Value::Array(
                        (0..n)
                            .map(|i| nest(data, rest, offset + i * stride))
                            .collect(),
                    )
                }
            }
        }
        nest(&self.data, &self.shape, 0)
    }

    /// The first dimension (rows); 1 for a scalar.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Rows `start..end` of this tensor (along the first dimension).
    pub fn slice_rows(&self, start: usize, end: usize) -> Tensor {
        let stride: usize = self.shape.iter().skip(1).product();
        let (a, b) = (start * stride, end * stride);
        let data = match &self.data {
            Data::F32(v) => Data::F32(v[a..b].to_vec()),
            Data::F64(v) => Data::F64(v[a..b].to_vec()),
            Data::I64(v) => Data::I64(v[a..b].to_vec()),
            Data::I32(v) => Data::I32(v[a..b].to_vec()),
            Data::Bool(v) => Data::Bool(v[a..b].to_vec()),
            Data::Str(v) => Data::Str(v[a..b].to_vec()),
        };
        let mut shape = self.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = end - start;
        }
        Tensor { shape, data }
    }
}

/// Stack tensors along their first dimension (the micro-batcher's concatenation). `None` when
/// they cannot be stacked: a scalar, or a different type or trailing shape.
pub fn concat_rows(parts: &[&Tensor]) -> Option<Tensor> {
    let first = parts.first()?;
    let tail = first.shape.get(1..)?;
    let ty = first.data.ty();
    if parts
        .iter()
        .any(|t| t.shape.get(1..) != Some(tail) || t.data.ty() != ty)
    {
        return None;
    }
    macro_rules! cat {
        ($variant:ident) => {{
            let mut out = Vec::with_capacity(parts.iter().map(|t| t.data.len()).sum());
            for t in parts {
                let Data::$variant(v) = &t.data else {
                    return None;
                };
                out.extend_from_slice(v);
            }
            Data::$variant(out)
        }};
    }
    let data = match ty {
        ElemType::F32 => cat!(F32),
        ElemType::F64 => cat!(F64),
        ElemType::I64 => cat!(I64),
        ElemType::I32 => cat!(I32),
        ElemType::Bool => cat!(Bool),
        ElemType::Str => cat!(Str),
    };
    let mut shape = first.shape.clone();
    shape[0] = parts.iter().map(|t| t.shape[0]).sum();
    Some(Tensor { shape, data })
}

/// Build a tensor of type `ty` from JSON scalars, naming `what` in errors.
pub fn from_json_scalars(
    ty: ElemType,
    values: &[&Value],
    shape: Vec<usize>,
    what: &str,
) -> Result<Tensor, String> {
    let bad = |v: &Value| format!("{what}: expected {} values, got {v}", ty.as_str());
    let data = match ty {
        ElemType::F32 => Data::F32(
            values
                .iter()
                .map(|v| num(v).map(|x| x as f32).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?,
        ),
        ElemType::F64 => Data::F64(
            values
                .iter()
                .map(|v| num(v).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?,
        ),
        ElemType::I64 => Data::I64(
            values
                .iter()
                .map(|v| int(v).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?,
        ),
        ElemType::I32 => Data::I32(
            values
                .iter()
                .map(|v| {
                    int(v)
                        .and_then(|x| i32::try_from(x).ok())
                        .ok_or_else(|| bad(v))
                })
                .collect::<Result<_, _>>()?,
        ),
        ElemType::Bool => Data::Bool(
            values
                .iter()
                .map(|v| match v {
                    Value::Bool(b) => Ok(*b),
                    Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                        Ok(n.as_i64() == Some(1))
                    }
                    _ => Err(bad(v)),
                })
                .collect::<Result<_, _>>()?,
        ),
        ElemType::Str => Data::Str(
            values
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(bad(v)),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Tensor { shape, data })
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        // pandas writes NaN as null in JSON; a missing value is NaN for float inputs.
        Value::Null => Some(f64::NAN),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_json_follows_the_shape() {
        let t = Tensor {
            shape: vec![2, 3],
            data: Data::I64((0..6).collect()),
        };
        assert_eq!(t.to_json(), json!([[0, 1, 2], [3, 4, 5]]));
        assert_eq!(t.slice_rows(1, 2).to_json(), json!([[3, 4, 5]]));
    }

    #[test]
    fn stacking_and_slicing_rows_round_trip() {
        let a = Tensor {
            shape: vec![1, 2],
            data: Data::F32(vec![1.0, 2.0]),
        };
        let b = Tensor {
            shape: vec![2, 2],
            data: Data::F32(vec![3.0, 4.0, 5.0, 6.0]),
        };
        let both = concat_rows(&[&a, &b]).unwrap();
        assert_eq!(both.shape, vec![3, 2]);
        assert_eq!(both.slice_rows(0, 1), a);
        assert_eq!(both.slice_rows(1, 3), b);
        let other_width = Tensor {
            shape: vec![1, 3],
            data: Data::F32(vec![1.0, 2.0, 3.0]),
        };
        assert!(concat_rows(&[&a, &other_width]).is_none());
        let other_type = Tensor {
            shape: vec![1, 2],
            data: Data::F64(vec![1.0, 2.0]),
        };
        assert!(concat_rows(&[&a, &other_type]).is_none());
        let scalar = Tensor {
            shape: vec![],
            data: Data::F32(vec![1.0]),
        };
        assert!(concat_rows(&[&scalar, &scalar]).is_none());
    }

    #[test]
    fn scalars_are_checked_against_the_type() {
        let a = json!(1.5);
        let s = json!("x");
        assert!(from_json_scalars(ElemType::F32, &[&a], vec![1], "col").is_ok());
        let e = from_json_scalars(ElemType::F32, &[&s], vec![1], "column 'age'").unwrap_err();
        assert!(e.contains("column 'age'"), "{e}");
        assert!(from_json_scalars(ElemType::I64, &[&a], vec![1], "c").is_err());
    }
}
