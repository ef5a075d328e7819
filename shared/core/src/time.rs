//! Points in time as text: RFC 3339 in UTC with microseconds, the form
//! Firestore stores and Cloud Logging reads. A leaf module: it imports nothing
//! of this crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC with microseconds (Firestore's precision): `2026-01-02T03:04:05.123456Z`.
/// One fixed width, so that such strings order as their instants.
pub fn format_timestamp(t: SystemTime) -> String {
    let micros = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_micros()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_micros()).unwrap_or(i128::MAX),
    };
    format_micros(micros)
}

fn format_micros(micros: i128) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A timestamp read back from Firestore (any fraction width, `Z` or an offset)
/// in the fixed form of [`format_timestamp`]; `None` when it is not RFC 3339.
pub fn normalize_timestamp(s: &str) -> Option<String> {
    parse_timestamp_micros(s).map(format_micros)
}

/// Parses RFC 3339 into a point in time.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let micros = parse_timestamp_micros(s)?;
    let abs = Duration::from_micros(u64::try_from(micros.unsigned_abs()).ok()?);
    if micros >= 0 {
        UNIX_EPOCH.checked_add(abs)
    } else {
        UNIX_EPOCH.checked_sub(abs)
    }
}

fn parse_timestamp_micros(s: &str) -> Option<i128> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i128> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Microseconds: further digits are rounded down, as Firestore stores them.
        for k in 0..6 {
            let digit = b
                .get(start + k)
                .filter(|_| start + k < i)
                .map_or(0, |d| d - b'0');
            frac = frac * 10 + i128::from(digit);
        }
    }
    let offset_secs: i128 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let off = h * 3600 + m * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000_000 + frac)
}

/// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian).
fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's civil-from-days algorithm.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i128::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::from_micros(1_767_323_045_123_456);
        assert_eq!(format_timestamp(t), "2026-01-02T03:04:05.123456Z");
        assert_eq!(parse_timestamp("2026-01-02T03:04:05.123456789Z"), Some(t));
        assert_eq!(
            normalize_timestamp("2026-01-02T04:04:05.5+01:00").as_deref(),
            Some("2026-01-02T03:04:05.500000Z")
        );
        assert_eq!(
            normalize_timestamp("1969-12-31T23:59:59Z").as_deref(),
            Some("1969-12-31T23:59:59.000000Z")
        );
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_micros(1)),
            "1969-12-31T23:59:59.999999Z"
        );
        for bad in [
            "",
            "2026-01-02",
            "2026-13-02T03:04:05Z",
            "2026-01-02T03:04:05",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05Zx",
        ] {
            assert_eq!(normalize_timestamp(bad), None, "{bad}");
        }
        let now = SystemTime::now();
        let back = parse_timestamp(&format_timestamp(now)).unwrap();
        assert!(now.duration_since(back).unwrap() < Duration::from_micros(1));
    }

    proptest::proptest! {
        #[test]
        fn timestamps_round_trip_and_parsing_never_panics(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999i64, junk in ".{0,40}") {
            let text = format_micros(i128::from(micros));
            proptest::prop_assert_eq!(parse_timestamp_micros(&text), Some(i128::from(micros)));
            let _ = normalize_timestamp(&junk);
            let _ = normalize_timestamp(&format!("{}{junk}", &text[..19]));
        }
    }
}
