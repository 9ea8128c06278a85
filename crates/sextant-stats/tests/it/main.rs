//! Integration tests of sextant-stats: properties (proptest) and agreement with SciPy.

mod properties;
mod scipy;
