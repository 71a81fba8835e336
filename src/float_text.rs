//! Losses as JSON, non-finite ones included. JSON has no NaN or infinity (serde_json writes
//! `null` and cannot read it back as a number), yet a diverging run's loss and a landscape
//! point far from a solution can be either. Fields that may hold one use these: a finite
//! value is a plain number (its exact bits: serde_json's `float_roundtrip`), the others the
//! strings "NaN", "inf" and "-inf"; reading also takes `null` as NaN (what older output has).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_str("NaN")
    } else if *x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Float)
}

struct Float;

impl Visitor<'_> for Float {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, \"NaN\", \"inf\", \"-inf\" or null")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
}

/// One float, as the fields above write it.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct Loose(#[serde(with = "self")] f64);

/// Rows of them.
pub mod grid {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|row| row.iter().map(|&x| Loose(x)).collect::<Vec<_>>()),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Vec<Loose>>::deserialize(d)?
            .into_iter()
            .map(|row| row.into_iter().map(|x| x.0).collect())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct T {
        #[serde(with = "super")]
        x: f64,
        #[serde(with = "super::grid")]
        g: Vec<Vec<f64>>,
    }

    #[test]
    fn every_float_comes_back_with_its_bits() {
        let xs = [
            0.1,
            -2.5e-310,
            1.0 / 3.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
        ];
        for &x in &xs {
            let t = T {
                x,
                g: vec![xs.to_vec(), vec![f64::NAN]],
            };
            let s = serde_json::to_string(&t).unwrap();
            let back: T = serde_json::from_str(&s).unwrap();
            assert_eq!(back.x.to_bits(), x.to_bits(), "{s}");
            assert_eq!(
                back.g[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                xs.map(f64::to_bits)
            );
            assert!(back.g[1][0].is_nan());
        }
        let t = T {
            x: f64::NAN,
            g: vec![],
        };
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, r#"{"x":"NaN","g":[]}"#);
        assert!(serde_json::from_str::<T>(&s).unwrap().x.is_nan());
        // Older output wrote null; integers are numbers too; other text is refused.
        assert!(
            serde_json::from_str::<T>(r#"{"x":null,"g":[[1]]}"#)
                .unwrap()
                .x
                .is_nan()
        );
        assert_eq!(
            serde_json::from_str::<T>(r#"{"x":3,"g":[]}"#).unwrap().x,
            3.0
        );
        let e = serde_json::from_str::<T>(r#"{"x":"lots","g":[]}"#).unwrap_err();
        assert!(e.to_string().contains("lots"), "{e}");
    }
}
