//! An NCrontab expression: parsing (first error and every error) never panics or hangs.
#![no_main]
use curfew_engine::cron::CronExpr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = CronExpr::parse(text);
    let all = CronExpr::parse_all(text);
    assert_eq!(
        first.is_ok(),
        all.is_ok(),
        "parse and parse_all disagree on {text:?}"
    );
});
