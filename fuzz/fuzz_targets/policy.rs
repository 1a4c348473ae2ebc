//! A policy definition document: validation, loading and evaluation against a compute never
//! panic or overflow the stack.
#![no_main]
use curfew_engine::policy::{validate_str, PolicyDefinition};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = validate_str(text, &Map::new());
    let Ok(document) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Ok(definition) = PolicyDefinition::load(&document, &Map::new()) else {
        return;
    };
    let instance = json!({"name": "ci-1", "tags": {"team": "ml"}, "properties": {
        "computeType": "ComputeInstance",
        "properties": {"vmSize": "Standard_DS3_v2", "idleTimeBeforeShutdown": "PT30M",
            "schedules": {"computeStartStop": []}}}});
    let _ = definition.evaluate(&instance);
});
