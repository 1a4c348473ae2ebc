//! The `Retry-After` header (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// How long a `Retry-After` value asks to wait, measured from `now` (the caller's
/// [`crate::Clock::now`]); `None` when it is neither form. A date in the past means "now"
/// (zero). Delta-seconds too large to represent saturate (as RFC 9111 §1.2.2 advises) rather
/// than being ignored; callers cap the wait with [`crate::RetryPolicy::max_retry_after`].
///
/// HTTP-dates are accepted in all three forms recipients must read: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`, two-digit
/// years 70–99 as 19xx, 00–69 as 20xx) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            v.parse::<u64>()
                .map_or(Duration::from_secs(u64::MAX), Duration::from_secs),
        );
    }
    let at = http_date(v)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP-date in any of its three forms.
fn http_date(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(v) {
        return Some(t.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 12 ", now()),
            Some(Duration::from_secs(12))
        );
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("0007", now()),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn huge_delta_seconds_saturate() {
        let max = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after("18446744073709551615", now()), max);
        assert_eq!(parse_retry_after("18446744073709551616", now()), max);
        assert_eq!(parse_retry_after(&"9".repeat(400), now()), max);
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        let in_30s = Some(Duration::from_secs(30));
        assert_eq!(
            parse_retry_after("Mon, 05 Jan 2026 10:00:30 GMT", now()),
            in_30s
        );
        assert_eq!(
            parse_retry_after("Monday, 05-Jan-26 10:00:30 GMT", now()),
            in_30s
        );
        assert_eq!(parse_retry_after("Mon Jan  5 10:00:30 2026", now()), in_30s);
        assert_eq!(
            parse_retry_after("Thu Jan 15 10:00:00 2026", now()),
            Some(Duration::from_secs(10 * 86_400))
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now()),
            Some(Duration::from_secs(253_402_300_799 - 1_767_607_200)) // Unix seconds of both
        );
    }

    #[test]
    fn past_dates_mean_now() {
        assert_eq!(
            parse_retry_after("Mon, 05 Jan 2026 09:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Mon, 05 Jan 2026 10:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "   ",
            "soon",
            "-5",
            "+5",
            "1.5",
            "5s",
            "0x10",
            "١٢",
            "Mon, 32 Jan 2026 10:00:00 GMT",
            "Mon, 05 Jan 2026 25:00:00 GMT",
            "2026-01-05T10:00:30Z",
            "Mon, 05 Jan 2026",
            "Monday, 05-Jan-26 10:00:30 PST",
        ] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }
}
