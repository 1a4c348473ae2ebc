//! Azure ML CLI YAML (`az ml compute create --file`): the nesting check and the YAML reader
//! never panic, and deep nesting is refused before the YAML parser sees it.
#![no_main]
use curfew_engine::{fleet, inventory, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = yaml::check_yaml_nesting(text);
    if let Ok(inv) = inventory::parse(text, "fuzz.yaml") {
        let _ = fleet::compile(&inv);
    }
});
