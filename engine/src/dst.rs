//! The DST contract: how a local wall-clock time becomes one instant (docs/design.md §5).
//!
//! A local time that does not exist (spring-forward gap) fires at the first instant after the gap,
//! which is the transition itself; a local time that occurs twice (fall-back fold) fires once, at
//! its first occurrence. The mapping is monotone (later local times never map to earlier
//! instants), which is what lets [`crate::schedule`] scan local times in order.

use crate::tz::{LocalKind, Zone};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::Serialize;

/// How DST affected one firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Shift {
    /// The local time exists once: it fired as written.
    None,
    /// The local time fell in a spring-forward gap: it fired at the transition.
    Gap,
    /// The local time occurred twice (fall-back fold): it fired at its first occurrence only.
    Fold,
}

/// The local wall-clock time of an instant in a zone.
pub fn wall(zone: &Zone, instant: DateTime<Utc>) -> NaiveDateTime {
    let offset = zone.offset_at(instant.timestamp());
    instant.naive_utc() + Duration::seconds(i64::from(offset))
}

/// Maps a local wall-clock time to the instant it fires at, and how DST shaped that.
pub fn to_instant(zone: &Zone, local: NaiveDateTime) -> (DateTime<Utc>, Shift) {
    let at = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap_or_default();
    match zone.local_kind(local) {
        LocalKind::Single(secs) => (at(secs), Shift::None),
        LocalKind::Fold(secs) => (at(secs), Shift::Fold),
        LocalKind::Gap => (gap_end(zone, local), Shift::Gap),
    }
}

/// The transition instant of the gap that swallows `local`: the first instant whose wall time
/// is later than `local`. Offsets lie within −12 h … +14 h, so that instant is within
/// `local − 15 h … local + 13 h` read as UTC; a binary search over seconds finds it.
fn gap_end(zone: &Zone, local: NaiveDateTime) -> DateTime<Utc> {
    let mut lo = local.and_utc().timestamp() - 15 * 3600; // wall(lo) < local
    let mut hi = local.and_utc().timestamp() + 13 * 3600; // wall(hi) > local
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let at = DateTime::from_timestamp(mid, 0).unwrap_or_default();
        if wall(zone, at) > local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> Zone {
        crate::tz::resolve(name).unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn gap_fires_at_the_transition() {
        let (at, shift) = to_instant(&zone("America/Los_Angeles"), local("2026-03-08 02:30"));
        assert_eq!(at.to_rfc3339(), "2026-03-08T10:00:00+00:00");
        assert_eq!(shift, Shift::Gap);
    }

    #[test]
    fn fold_fires_at_the_first_occurrence() {
        let (at, shift) = to_instant(&zone("America/Los_Angeles"), local("2026-11-01 01:30"));
        assert_eq!(at.to_rfc3339(), "2026-11-01T08:30:00+00:00");
        assert_eq!(shift, Shift::Fold);
    }

    #[test]
    fn lord_howe_half_hour_gap() {
        // 2026-10-04 02:00 +10:30 becomes 02:30 +11:00, at 15:30Z the day before.
        let (at, shift) = to_instant(&zone("Australia/Lord_Howe"), local("2026-10-04 02:10"));
        assert_eq!(at.to_rfc3339(), "2026-10-03T15:30:00+00:00");
        assert_eq!(shift, Shift::Gap);
    }
}
