//! Curfew's pure core (placeholder while the engine is written).
pub mod policy;
