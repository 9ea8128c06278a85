//! Floats as MLflow puts them on the wire: finite values as JSON numbers, NaN and ±Infinity as
//! the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (protobuf's JSON mapping).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An `f64` that survives a JSON round trip even when it is NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct WireF64(pub f64);

impl From<f64> for WireF64 {
    fn from(v: f64) -> Self {
        Self(v)
    }
}

impl Serialize for WireF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(v)
        }
    }
}

struct WireF64Visitor;

impl Visitor<'_> for WireF64Visitor {
    type Value = WireF64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or one of \"NaN\", \"Infinity\", \"-Infinity\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<WireF64, E> {
        Ok(WireF64(v))
    }

    #[expect(
        clippy::cast_precision_loss,
        reason = "JSON numbers are doubles on the wire"
    )]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireF64, E> {
        Ok(WireF64(v as f64))
    }

    #[expect(
        clippy::cast_precision_loss,
        reason = "JSON numbers are doubles on the wire"
    )]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireF64, E> {
        Ok(WireF64(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WireF64, E> {
        match v {
            "NaN" | "nan" => Ok(WireF64(f64::NAN)),
            "Infinity" | "inf" | "+Infinity" => Ok(WireF64(f64::INFINITY)),
            "-Infinity" | "-inf" => Ok(WireF64(f64::NEG_INFINITY)),
            other => other
                .trim()
                .parse::<f64>()
                .map(WireF64)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for WireF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireF64Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_travel_as_strings() {
        let v = vec![
            WireF64(1.5),
            WireF64(f64::NAN),
            WireF64(f64::INFINITY),
            WireF64(f64::NEG_INFINITY),
        ];
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, r#"[1.5,"NaN","Infinity","-Infinity"]"#);
        let back: Vec<WireF64> = serde_json::from_str(&s).unwrap();
        assert_eq!(back[0].0, 1.5);
        assert!(back[1].0.is_nan());
        assert_eq!(back[2].0, f64::INFINITY);
        assert_eq!(back[3].0, f64::NEG_INFINITY);
    }

    #[test]
    fn integers_and_numeric_strings_accepted() {
        let v: Vec<WireF64> = serde_json::from_str(r#"[3, "2.5"]"#).unwrap();
        assert_eq!(v, vec![WireF64(3.0), WireF64(2.5)]);
        assert!(serde_json::from_str::<WireF64>(r#""abc""#).is_err());
    }
}

#[cfg(test)]
mod roundtrip_tests {
    use super::WireF64;

    #[test]
    fn json_floats_round_trip_exactly() {
        // serde_json's default float parser may be off by one ulp; Sextant needs exact values
        // (the workspace enables `float_roundtrip`). This value came back wrong without it.
        for v in [
            0.999_800_041_992_001_7_f64,
            0.1,
            1e-300,
            123_456.789_012_345_67,
        ] {
            let s = serde_json::to_string(&WireF64(v)).unwrap();
            let back: WireF64 = serde_json::from_str(&s).unwrap();
            assert_eq!(back.0.to_bits(), v.to_bits(), "{s}");
        }
    }
}
