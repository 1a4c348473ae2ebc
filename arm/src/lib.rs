//! Azure Resource Manager client for Azure ML compute instances (placeholder until issue 3 lands).
