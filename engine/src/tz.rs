//! Time-zone names: Windows ids (as Azure ML writes them) and IANA names, resolved to zone rules.
//!
//! Windows ids map to IANA through CLDR 48 `windowsZones` (territory `001`), compiled into the
//! binary from `engine/data/windows_zones_cldr48.csv`. Two ids that the Azure ML SDK offers are not
//! in CLDR and are mapped here by hand (design §5).

use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The CLDR release the Windows → IANA table comes from.
pub const CLDR_RELEASE: &str = "48.2.0";

/// The IANA time-zone database release whose rules this build carries.
pub const TZDB_RELEASE: &str = chrono_tz::IANA_TZDB_VERSION;

/// The zone used when a schedule names none (Azure's default).
pub const DEFAULT_ZONE: &str = "UTC";

const WINDOWS_ZONES_CSV: &str = include_str!("../data/windows_zones_cldr48.csv");

/// Windows ids offered by the Azure ML SDK that CLDR 48 lacks, with the zone they denote.
const EXTRA_WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Kamchatka Standard Time", "Asia/Kamchatka"),
    ("Mid-Atlantic Standard Time", "Etc/GMT+2"),
];

/// A resolved time zone: the name as written and the IANA zone whose rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// IANA zone whose rules (including DST) apply.
    pub tz: Tz,
    /// Whether the name was a Windows id (as opposed to an IANA name).
    pub windows: bool,
}

impl Zone {
    /// The IANA name of the zone, as printed in plans.
    pub fn iana(&self) -> &'static str {
        self.tz.name()
    }
}

fn windows_table() -> &'static HashMap<String, Tz> {
    static TABLE: OnceLock<HashMap<String, Tz>> = OnceLock::new();
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
            if let Ok(tz) = iana.parse::<Tz>() {
                map.insert(win.to_ascii_lowercase(), tz);
            }
        }
        for (win, iana) in EXTRA_WINDOWS_ZONES {
            if let Ok(tz) = iana.parse::<Tz>() {
                map.insert(win.to_ascii_lowercase(), tz);
            }
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
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return None;
    }
    let key = trimmed.to_ascii_lowercase();
    if let Some(tz) = windows_table().get(&key) {
        return Some(Zone {
            tz: *tz,
            windows: true,
        });
    }
    trimmed
        .parse::<Tz>()
        .ok()
        .or_else(|| Tz::from_str_insensitive(trimmed).ok())
        .map(|tz| Zone { tz, windows: false })
}

#[cfg(test)]
mod tests {
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
