//! Notifiers (placeholder until written).
