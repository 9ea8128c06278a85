//! The standard normal distribution's tail, for the normal approximations.

/// `P(Z > z)` for a standard normal `Z`, accurate in the far tail (through `erfc`).
pub(crate) fn sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::sf;

    #[test]
    fn known_values() {
        assert!((sf(0.0) - 0.5).abs() < 1e-16);
        // Reference values of the standard normal survival function.
        assert!((sf(1.959_963_984_540_054) - 0.025).abs() < 1e-15);
        assert!((sf(-1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((sf(8.0) / 6.220_960_574_271_785e-16 - 1.0).abs() < 1e-12);
        assert_eq!(sf(f64::INFINITY), 0.0);
        assert_eq!(sf(f64::NEG_INFINITY), 1.0);
    }
}
