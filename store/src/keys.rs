//! Key and time encodings shared by both backends.
//!
//! Times are stored as fixed-width UTC text (`2025-01-31T18:00:00.000000000Z`): exact to the
//! nanosecond and ordered lexicographically, so range queries are string comparisons.
//! Keys are escaped so that ARM ids (with `/`) are valid Table Storage keys.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Fixed-width UTC text of an instant (years 0000–9999 keep lexicographic order).
pub(crate) fn time_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// The UTC hour of an instant as `YYYYMMDDHH`: the time bucket of a timed mark, identical in
/// both backends (a mark is one per kind, key and hour; sweeps take whole hours).
pub(crate) fn hour_key(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H").to_string()
}

/// Parses [`time_key`] output.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.9fZ")
        .ok()
        .map(|n| n.and_utc())
}

/// Escapes a key for Table Storage: ASCII letters, digits, `-`, `_`, `.` and `:` stay; every
/// other byte becomes `~XX` (upper-case hex). Injective, and the output never contains `/`,
/// `\`, `#`, `?`, `'`, `!` or control characters, so it is also safe inside URLs and filters.
pub(crate) fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':') {
            out.push(b as char);
        } else {
            out.push('~');
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// Inverse of [`encode_key`]; `None` for text it cannot have produced.
#[cfg(test)]
pub(crate) fn decode_key(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'~' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn arm_ids_become_valid_table_keys_and_round_trip() {
        let id = "/subscriptions/0000/resourceGroups/rg 1/providers/Microsoft.MachineLearningServices/workspaces/w#1/computes/ci?x'é~";
        let enc = encode_key(id);
        assert!(!enc.contains(['/', '\\', '#', '?', '\'', '!', ' ']));
        assert!(enc.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
        assert_eq!(decode_key(&enc).as_deref(), Some(id));
        // Injective: escaping `~` itself keeps distinct keys distinct.
        assert_ne!(encode_key("~2F"), encode_key("/"));
    }

    #[test]
    fn time_keys_are_exact_and_ordered() {
        let a = Utc.with_ymd_and_hms(2025, 3, 9, 9, 59, 59).unwrap()
            + chrono::Duration::nanoseconds(999_999_999);
        let b = Utc.with_ymd_and_hms(2025, 3, 9, 10, 0, 0).unwrap();
        assert_eq!(parse_time(&time_key(a)), Some(a));
        assert_eq!(time_key(b), "2025-03-09T10:00:00.000000000Z");
        assert!(time_key(a) < time_key(b));
    }
}
