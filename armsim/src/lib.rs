//! Local ARM simulator (placeholder until issue 3 lands).
