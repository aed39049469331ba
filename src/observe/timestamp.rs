//! The log timestamp, `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC), as tracing-subscriber's `SystemTime`
//! timer writes it, with the `YYYY-MM-DDTHH:MM:SS` part cached per second and thread:
//! formatting a date from scratch for every access line was a large part of its cost.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC), as tracing-subscriber's `SystemTime` timer writes it.
pub(crate) struct Stamp([u8; 27]);

impl Stamp {
    /// The text (ASCII).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

thread_local! {
    /// The last second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS` text.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// `None` before 1970 or after 9999 (the caller falls back to tracing's own timer).
pub(crate) fn timestamp(now: SystemTime) -> Option<Stamp> {
    let since = now.duration_since(UNIX_EPOCH).ok()?;
    let secs = since.as_secs();
    let (cached, mut head) = SECOND.get();
    if cached != secs {
        head = civil_text(secs)?;
        SECOND.set((secs, head));
    }
    let mut out = [0u8; 27];
    out[..19].copy_from_slice(&head);
    out[19] = b'.';
    digits(&mut out[20..26], u64::from(since.subsec_micros()));
    out[26] = b'Z';
    Some(Stamp(out))
}

/// `YYYY-MM-DDTHH:MM:SS` for seconds since the epoch (UTC, proleptic Gregorian).
fn civil_text(secs: u64) -> Option<[u8; 19]> {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00";
    digits(&mut out[0..4], year);
    digits(&mut out[5..7], month);
    digits(&mut out[8..10], day);
    digits(&mut out[11..13], rem / 3600);
    digits(&mut out[14..16], rem / 60 % 60);
    digits(&mut out[17..19], rem % 60);
    Some(out)
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01: the era-based
/// algorithm (400-year eras starting on 0000-03-01).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Zero-padded decimal digits of `value` filling `out`.
fn digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn civil_dates() {
        fn check(secs: u64, want: &str) {
            let got = civil_text(secs).map(|t| String::from_utf8(t.to_vec()).unwrap());
            assert_eq!(got.as_deref(), Some(want), "civil_text({secs})");
        }
        check(0, "1970-01-01T00:00:00");
        check(951_782_400, "2000-02-29T00:00:00");
        check(951_868_799, "2000-02-29T23:59:59");
        check(951_868_800, "2000-03-01T00:00:00");
        check(1_709_251_199, "2024-02-29T23:59:59");
        check(1_735_689_600, "2025-01-01T00:00:00");
        check(4_102_444_800, "2100-01-01T00:00:00");
        check(253_402_300_799, "9999-12-31T23:59:59");
        assert!(civil_text(253_402_300_800).is_none());
    }

    #[test]
    fn stamp_has_micros() {
        let t = UNIX_EPOCH + Duration::new(1_735_689_600, 42_000);
        assert_eq!(
            timestamp(t).unwrap().as_bytes(),
            b"2025-01-01T00:00:00.000042Z"
        );
    }
}
