//! An activity report body and its signature headers (split at the first two newlines): parsing
//! and verification never panic.
#![no_main]
use chrono::{DateTime, Utc};
use curfew_engine::idle::{verify_report, ActivityReport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (Some(ts), Some(sig), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(body) {
        if let Ok(report) = ActivityReport::from_json(text) {
            let _ = report.activity();
            let _ = report.is_busy();
        }
    }
    let (Ok(ts), Ok(sig)) = (std::str::from_utf8(ts), std::str::from_utf8(sig)) else {
        return;
    };
    let now = DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap();
    let _ = verify_report(
        b"curfew-fuzz-activity-key-0123456789",
        "ci-1",
        ts,
        sig,
        body,
        now,
    );
});
