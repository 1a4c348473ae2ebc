//! Durable state for the governor (placeholder until its issue lands).
