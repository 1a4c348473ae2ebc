//! One `computeStartStop` entry (a Recurrence, a Cron, or anything else): compiling it never
//! panics, and a compiled schedule's occurrences in a window are increasing.
#![no_main]
use chrono::{DateTime, Duration, Utc};
use curfew_engine::schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let compiled = schedule::compile(&entry);
    let Some(s) = compiled.schedule else { return };
    let from = DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap(); // 2026-03-01
    let to = from + Duration::days(3);
    let mut last = None;
    for o in s.occurrences(from, to).take(5_000) {
        assert!(o.at >= from && o.at < to, "{o:?} outside the window");
        assert!(last < Some(o.at), "occurrences not increasing");
        last = Some(o.at);
    }
    let _ = s.next_after(to);
    let _ = schedule::normalize(&entry);
});
