//! An inventory file (a compute, an array, an ARM list response): reading, compiling and a
//! two-day plan never panic.
#![no_main]
use chrono::{DateTime, Duration, Utc};
use curfew_engine::{fleet, inventory};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inv) = inventory::parse(text, "fuzz.json") else {
        return;
    };
    let f = fleet::compile(&inv);
    let from = DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap();
    let rows = fleet::PlanStream::new(&f, from, from + Duration::days(2))
        .take(5_000)
        .count();
    assert!(rows <= 5_000);
});
