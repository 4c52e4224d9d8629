//! Timestamps as the three log kinds write them, parsed without allocation.
//!
//! CloudTrail writes `2023-07-10T12:11:15Z`, Route 53 Resolver writes the same with an optional
//! fraction, VPC flow logs write Unix seconds. Every record time inside trailhound is a count of
//! milliseconds since the Unix epoch (UTC), so that comparisons and windows are integer arithmetic.
//! The parser is hand-written because it runs once per record on the hot path; it accepts
//! RFC 3339 (`T` or space separator, optional fraction, `Z` or `±HH:MM`/`±HHMM` offset) and a bare
//! `YYYY-MM-DD` date (midnight UTC), which is what the `--since`/`--until` flags take too.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EpochMillis = i64;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses an RFC 3339 timestamp or a bare `YYYY-MM-DD` date into epoch milliseconds.
///
/// ```
/// use trailhound_model::time::{parse_timestamp, format_millis};
/// let t = parse_timestamp("2023-07-10T12:11:15Z").unwrap();
/// assert_eq!(t, 1_688_991_075_000);
/// assert_eq!(parse_timestamp("2023-07-10T14:11:15.250+02:00"), Some(t + 250));
/// assert_eq!(format_millis(t), "2023-07-10T12:11:15.000Z");
/// assert_eq!(parse_timestamp("2023-07-10"), Some(1_688_947_200_000));
/// assert_eq!(parse_timestamp("yesterday"), None);
/// ```
pub fn parse_timestamp(s: &str) -> Option<EpochMillis> {
    // `str::trim` decodes and tests a character at each end even when there is nothing to trim
    // (a tenth of writing OCSF Parquet, which reads two times per finding); only a string that
    // starts or ends with ASCII whitespace or a non-ASCII byte can have Unicode whitespace there.
    let may_trim = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_whitespace() || !c.is_ascii());
    let raw = s.as_bytes();
    let b = if may_trim(raw.first()) || may_trim(raw.last()) {
        s.trim().as_bytes()
    } else {
        raw
    };
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let (second, mut i) = if b.get(16) == Some(&b':') {
        (digits(b, 17, 2)?, 19)
    } else {
        (0, 16)
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = if b.get(i + 3) == Some(&b':') {
                if b.len() != i + 6 {
                    return None;
                }
                digits(b, i + 4, 2)?
            } else {
                if b.len() != i + 5 {
                    return None;
                }
                digits(b, i + 3, 2)?
            };
            if oh > 18 || om > 59 {
                return None;
            }
            let v = i64::from(oh * 3600 + om * 60);
            if sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Some(secs * 1000 + millis)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The civil parts `(year, month, day, hour, minute, second, millisecond)` of epoch ms.
fn parts(t: EpochMillis) -> (i64, u32, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400_000));
    // Below a day, so every part fits a u32.
    let rem = t.rem_euclid(86_400_000) as u32;
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    (y, m, d, h, mi, rem / 1000, rem % 1000)
}

/// Epoch milliseconds as the 24 bytes of `YYYY-MM-DDTHH:MM:SS.mmmZ` (the form ASFF asks for),
/// without allocating: the writers put one or two of these in every finding. `None` for a year
/// outside 0–9999, which that form cannot hold ([`with_millis_text`] writes those too).
pub fn millis_text(t: EpochMillis) -> Option<[u8; 24]> {
    let (y, m, d, h, mi, s, ms) = parts(t);
    let y = u32::try_from(y).ok().filter(|y| *y <= 9999)?;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, h);
    put(14, 2, mi);
    put(17, 2, s);
    put(20, 3, ms);
    Some(b)
}

/// Calls `f` with epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, from a stack buffer for years
/// 0–9999 and formatted (as many digits and the sign they need) otherwise.
pub fn with_millis_text<R>(t: EpochMillis, f: impl FnOnce(&str) -> R) -> R {
    if let Some(b) = millis_text(t)
        && let Ok(text) = std::str::from_utf8(&b)
    {
        return f(text);
    }
    let (y, m, d, h, mi, s, ms) = parts(t);
    f(&format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"
    ))
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (see [`with_millis_text`]).
pub fn format_millis(t: EpochMillis) -> String {
    with_millis_text(t, str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_civil_dates() {
        for days in [-719_468i64, -1, 0, 1, 11_016, 19_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn formats_what_it_parses() {
        for t in [0, 1, 999, 1_700_000_000_123, 253_402_300_799_999, -1] {
            let text = format_millis(t);
            assert_eq!(text.len(), 24, "{text}");
            assert_eq!(parse_timestamp(&text), Some(t), "{text}");
        }
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
        // Year 10000 and year -1 do not fit the fixed form.
        assert_eq!(millis_text(253_402_300_800_000), None);
        assert_eq!(
            format_millis(253_402_300_800_000),
            "10000-01-01T00:00:00.000Z"
        );
        assert!(millis_text(-62_167_219_200_001).is_none());
    }

    #[test]
    fn parses_forms_seen_in_logs() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.123456789Z"),
            Some(1123)
        );
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01 00:01"), Some(60_000));
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn whitespace_around_is_trimmed_as_str_trim_does() {
        let t = "1970-01-01T00:00:01Z";
        for s in [
            format!(" {t}"),
            format!("{t}\n"),
            format!("\t{t} "),
            format!("\u{a0}{t}"),
            format!("{t}\u{3000}"),
        ] {
            assert_eq!(parse_timestamp(&s), Some(1000), "{s:?}");
        }
        // Not whitespace: refused, trimmed or not.
        assert_eq!(parse_timestamp(&format!("\u{e9}{t}")), None);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2023-13-01",
            "2023-02-30",
            "2023-01-01T25:00:00Z",
            "2023-01-01T00:00:00Q",
            "2023-01-01T00:00:00.Z",
            "2023/01/01",
            "2023-01-01T00:00:00+0100junk",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_negative_and_positive() {
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_millis(1_688_991_075_123), "2023-07-10T12:11:15.123Z");
    }
}
