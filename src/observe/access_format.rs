//! A fast event formatter for the access log: writes `aclgate::access` lines itself — the same
//! text as tracing-subscriber's default (`Full`) format without colours — and hands every other
//! event to the wrapped formatter.
//!
//! The default formatter renders every field through `core::fmt` and `Debug` escaping and formats
//! the timestamp from scratch; for the one line per request this was 13% of the gateway's
//! instructions. Here strings that need no escaping are copied as they are, integers are written
//! with a small digit loop and the `YYYY-MM-DDTHH:MM:SS` part of the timestamp is cached per
//! second.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The access log's target.
pub const ACCESS_TARGET: &str = "aclgate::access";

/// Formats `aclgate::access` events directly; delegates everything else (and any event when the
/// writer uses ANSI colours or the event sits inside a span) to `inner`.
#[derive(Debug, Clone)]
pub struct AccessFormat<F> {
    inner: F,
}

impl<F> AccessFormat<F> {
    /// Wrap `inner`, which must be tracing-subscriber's default `Full` format with the
    /// `SystemTime` timer for the fast lines to look like the others.
    pub fn new(inner: F) -> AccessFormat<F> {
        AccessFormat { inner }
    }
}

impl<S, N, F> FormatEvent<S, N> for AccessFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != ACCESS_TARGET
            || writer.has_ansi_escapes()
            || ctx.event_scope().is_some()
        {
            return self.inner.format_event(ctx, writer, event);
        }
        let Some(stamp) = timestamp(SystemTime::now()) else {
            return self.inner.format_event(ctx, writer, event);
        };
        writer.write_str(stamp.as_str())?;
        writer.write_str(" ")?;
        writer.write_str(level_text(meta.level()))?;
        writer.write_str(" ")?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("\n")
    }
}

/// The level as the default formatter pads it (five columns, right-aligned).
fn level_text(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::TRACE => "TRACE",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::INFO => " INFO",
        tracing::Level::WARN => " WARN",
        tracing::Level::ERROR => "ERROR",
    }
}

/// `name="value" name=123 ...`, as the default field formatter writes them.
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn name(&mut self, field: &Field) -> fmt::Result {
        if !self.first {
            self.writer.write_str(" ")?;
        }
        self.first = false;
        self.writer.write_str(field.name())?;
        self.writer.write_str("=")
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .name(field)
            .and_then(|()| write_quoted(self.writer, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .name(field)
            .and_then(|()| write_u64(self.writer, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .name(field)
            .and_then(|()| write!(self.writer, "{value:?}"));
    }
}

/// `value` as `str`'s `Debug` writes it: quoted, copied as is when it is printable ASCII
/// without `"` and `\`.
fn write_quoted(w: &mut impl fmt::Write, value: &str) -> fmt::Result {
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        w.write_str("\"")?;
        w.write_str(value)?;
        w.write_str("\"")
    } else {
        write!(w, "{value:?}")
    }
}

fn write_u64(w: &mut impl fmt::Write, mut value: u64) -> fmt::Result {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // INVARIANT: only ASCII digits were written.
    w.write_str(std::str::from_utf8(&buf[at..]).expect("ASCII digits"))
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC), as tracing-subscriber's `SystemTime` timer writes it.
struct Stamp([u8; 27]);

impl Stamp {
    fn as_str(&self) -> &str {
        // INVARIANT: built from ASCII digits and separators only.
        std::str::from_utf8(&self.0).expect("ASCII timestamp")
    }
}

thread_local! {
    /// The last second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS` text.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// `None` before 1970 or after 9999 (the caller falls back to the default formatter).
fn timestamp(now: SystemTime) -> Option<Stamp> {
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
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tracing_subscriber::fmt::MakeWriter;

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
            timestamp(t).unwrap().as_str(),
            "2025-01-01T00:00:00.000042Z"
        );
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// Every field as the access log records it, through either formatter.
    fn line(fast: bool, authid: &str, path: &str) -> String {
        let out = Capture::default();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(out.clone());
        let emit = || {
            crate::observe::AccessEvent {
                authid,
                method: "GET",
                path,
                route: "p.toml:3",
                decision: "allow",
                reason: "check passed",
                status: 200,
                latency: Duration::from_micros(1234),
            }
            .log()
        };
        if fast {
            let fmt = AccessFormat::new(tracing_subscriber::fmt::format());
            tracing::subscriber::with_default(builder.event_format(fmt).finish(), emit);
        } else {
            tracing::subscriber::with_default(builder.finish(), emit);
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        // The timestamps differ by the time between the two calls; compare what follows.
        let (stamp, rest) = text.split_once(' ').unwrap();
        assert_eq!(stamp.len(), 27, "timestamp `{stamp}`");
        rest.to_owned()
    }

    #[test]
    fn same_text_as_the_default_format() {
        fn check(authid: &str, path: &str) {
            assert_eq!(
                line(true, authid, path),
                line(false, authid, path),
                "authid={authid:?} path={path:?}"
            );
        }
        check(
            "joe@pve!monitoring",
            "/api2/json/nodes/n1/qemu/100/status/current",
        );
        check("-", "/a \"quoted\" \\ path");
        check("root@pam", "/ünïcode/\u{7f}/\t");
        check("", "");
    }
}
