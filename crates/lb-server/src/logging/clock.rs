//! Log timestamps without `core::fmt`: UTC RFC 3339 with microseconds and a
//! `Z`, byte for byte what tracing-subscriber's default `SystemTime` timer
//! writes (`2025-01-01T12:00:00.123456Z`).
//!
//! The `YYYY-MM-DDTHH:MM:SS` part is formatted once per second per thread
//! (the civil date from the days since the epoch) and copied from then on;
//! a line only adds the six digits of microseconds.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Room for the seconds part: a sign, up to 19 digits of year (an `i64`
/// second count cannot need more) and `-MM-DDTHH:MM:SS`.
const SECONDS_CAP: usize = 40;

/// One thread's formatted seconds part, for the unix second it was made for.
#[derive(Debug, Clone, Copy)]
struct CachedSecond {
    /// The unix second `text` shows; meaningless while `len` is 0.
    unix: i64,
    /// `text[..len]` is `YYYY-MM-DDTHH:MM:SS`.
    text: [u8; SECONDS_CAP],
    /// Bytes of `text` in use; 0 before the first timestamp.
    len: u8,
}

thread_local! {
    /// This thread's last seconds part.
    static SECOND: Cell<CachedSecond> = const {
        Cell::new(CachedSecond { unix: 0, text: [0; SECONDS_CAP], len: 0 })
    };
}

/// A civil (proleptic Gregorian) date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    /// Year; may be negative or above 9999.
    pub(crate) year: i64,
    /// Month, 1 to 12.
    pub(crate) month: u8,
    /// Day of the month, 1 to 31.
    pub(crate) day: u8,
}

/// The civil date `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> Civil {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        // In range by construction.
        month: u8::try_from(month).unwrap_or(0),
        day: u8::try_from(day).unwrap_or(0),
    }
}

/// Whole seconds (floored) and microseconds since the epoch, as
/// tracing-subscriber splits an instant (before the epoch too).
pub(crate) fn unix_parts(now: SystemTime) -> (i64, u32) {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_micros(),
        ),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (-secs, 0),
                nanos => (-secs - 1, (1_000_000_000 - nanos) / 1000),
            }
        }
    }
}

/// Append `now` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, now: SystemTime) {
    let (unix, micros) = unix_parts(now);
    let mut cached = SECOND.with(Cell::get);
    if cached.len == 0 || cached.unix != unix {
        cached = format_second(unix);
        SECOND.with(|c| c.set(cached));
    }
    out.extend_from_slice(&cached.text[..usize::from(cached.len)]);
    let mut frac = *b".000000Z";
    let mut rest = micros;
    for slot in frac[1..7].iter_mut().rev() {
        // `rest % 10` is a digit.
        *slot = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
    }
    out.extend_from_slice(&frac);
}

/// The seconds part for one unix second.
fn format_second(unix: i64) -> CachedSecond {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let date = civil_from_days(days);
    let mut text = Vec::with_capacity(SECONDS_CAP);
    write_year(&mut text, date.year);
    text.push(b'-');
    two_digits(&mut text, i64::from(date.month));
    text.push(b'-');
    two_digits(&mut text, i64::from(date.day));
    text.push(b'T');
    two_digits(&mut text, secs / 3600);
    text.push(b':');
    two_digits(&mut text, secs / 60 % 60);
    text.push(b':');
    two_digits(&mut text, secs % 60);
    let mut cached = CachedSecond {
        unix,
        text: [0; SECONDS_CAP],
        len: 0,
    };
    let len = text.len().min(SECONDS_CAP);
    cached.text[..len].copy_from_slice(&text[..len]);
    cached.len = u8::try_from(len).unwrap_or(0);
    cached
}

/// The year as tracing-subscriber writes it: four digits, zero-padded; a
/// `+` before years above 9999; a `-` and four digits at least before
/// negative ones.
fn write_year(out: &mut Vec<u8>, year: i64) {
    if year > 9999 {
        out.push(b'+');
    } else if year < 0 {
        out.push(b'-');
    }
    let abs = year.unsigned_abs();
    let mut digits = [0u8; 20];
    let start = super::access::u64_digits(&mut digits, abs);
    for _ in (digits.len() - start)..4 {
        out.push(b'0');
    }
    out.extend_from_slice(&digits[start..]);
}

/// `v` (0 to 99) as two digits.
fn two_digits(out: &mut Vec<u8>, v: i64) {
    let v = u8::try_from(v.rem_euclid(100)).unwrap_or(0);
    out.push(b'0' + v / 10);
    out.push(b'0' + v % 10);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stamp(now: SystemTime) -> String {
        let mut out = Vec::new();
        write_timestamp(&mut out, now);
        String::from_utf8(out).unwrap()
    }

    fn at(secs: i64, micros: u32) -> SystemTime {
        let sub = Duration::from_micros(u64::from(micros));
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()) + sub
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + sub
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(stamp(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            stamp(at(1_735_732_800, 123_456)),
            "2025-01-01T12:00:00.123456Z"
        );
        // Leap days: 2000 is a leap year, 2100 is not.
        assert_eq!(stamp(at(951_782_400, 7)), "2000-02-29T00:00:00.000007Z");
        assert_eq!(stamp(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000000Z");
        assert_eq!(
            stamp(at(1_735_689_599, 999_999)),
            "2024-12-31T23:59:59.999999Z"
        );
        // Before the epoch, as tracing-subscriber writes it.
        assert_eq!(stamp(at(-1, 500_000)), "1969-12-31T23:59:59.500000Z");
        assert_eq!(
            stamp(UNIX_EPOCH - Duration::from_micros(1)),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            stamp(at(-62_167_219_200 - 86_400, 0)),
            "-0001-12-31T00:00:00.000000Z"
        );
        assert_eq!(
            stamp(at(253_402_300_800, 0)),
            "+10000-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn civil_dates_follow_day_by_day_counting() {
        let month_days = |y: i64, m: u8| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        // 1600-01-01 is 135140 days before the epoch; walk to 2500.
        let mut want = Civil {
            year: 1600,
            month: 1,
            day: 1,
        };
        for days in -135_140..193_000 {
            assert_eq!(civil_from_days(days), want, "day {days}");
            want.day += 1;
            if want.day > month_days(want.year, want.month) {
                want.day = 1;
                want.month += 1;
                if want.month > 12 {
                    want.month = 1;
                    want.year += 1;
                }
            }
        }
    }

    #[test]
    fn the_cache_follows_the_second() {
        assert_eq!(stamp(at(100, 1)), "1970-01-01T00:01:40.000001Z");
        assert_eq!(stamp(at(100, 2)), "1970-01-01T00:01:40.000002Z");
        assert_eq!(stamp(at(101, 0)), "1970-01-01T00:01:41.000000Z");
        assert_eq!(stamp(at(100, 3)), "1970-01-01T00:01:40.000003Z");
    }
}
