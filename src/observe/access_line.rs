//! An access line written straight from an [`AccessEvent`]: byte for byte what
//! tracing-subscriber's `Full` (without colours) and `Json` formats write for the event
//! [`AccessEvent::log`] emits, without tracing's dispatch, field visitor and `core::fmt`.
//! Strings that need no escaping, the common case, are copied as they are.

use std::io::Write;

use super::access_log::{ACCESS_TARGET, AccessEvent};
use super::timestamp::Stamp;
use crate::config::gateway::LogFormat;

/// Append `event`'s line, ending in `\n`, to `out`.
pub(crate) fn write(out: &mut Vec<u8>, format: LogFormat, stamp: &Stamp, event: &AccessEvent) {
    match format {
        LogFormat::Text => text(out, stamp, event),
        LogFormat::Json => json(out, stamp, event),
    }
}

/// `STAMP  INFO aclgate::access: client="192.0.2.7" authid="joe@pve" ... status=200 latency_us=1234`
fn text(out: &mut Vec<u8>, stamp: &Stamp, event: &AccessEvent) {
    out.extend_from_slice(stamp.as_bytes());
    // The level is right-aligned in five columns.
    out.extend_from_slice(b"  INFO ");
    out.extend_from_slice(ACCESS_TARGET.as_bytes());
    out.push(b':');
    for (name, value) in fields(event) {
        let Some(value) = value else { continue };
        out.extend_from_slice(name.text.as_bytes());
        match value {
            Value::Str(s) if plain(s) => quoted(out, s),
            // `str`'s `Debug`, as tracing's default field formatter writes it.
            Value::Str(s) => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{s:?}");
            }
            Value::Num(n) => number(out, n),
        }
    }
    out.push(b'\n');
}

/// `{"timestamp":STAMP,"level":"INFO","fields":{...},"target":"aclgate::access"}`
fn json(out: &mut Vec<u8>, stamp: &Stamp, event: &AccessEvent) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    out.extend_from_slice(stamp.as_bytes());
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"fields\":{");
    for (i, (name, value)) in fields(event).into_iter().enumerate() {
        let Some(value) = value else { continue };
        // No comma before the first field (`client`, always there).
        out.extend_from_slice(&name.json.as_bytes()[usize::from(i == 0)..]);
        match value {
            Value::Str(s) if plain(s) => quoted(out, s),
            // serde_json's escaping, as tracing-subscriber's.
            Value::Str(s) => {
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, s);
            }
            Value::Num(n) => number(out, n),
        }
    }
    out.extend_from_slice(b"},\"target\":\"");
    out.extend_from_slice(ACCESS_TARGET.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// What each format writes before a field's value: ` name=` and `,"name":`.
struct Name {
    text: &'static str,
    json: &'static str,
}

macro_rules! name {
    ($name:literal) => {
        Name {
            text: concat!(" ", $name, "="),
            json: concat!(",\"", $name, "\":"),
        }
    };
}

enum Value<'a> {
    Str(&'a str),
    Num(u64),
}

/// The fields in the order the tracing event records them; `None` is left out, as tracing
/// leaves out a `None` field. The ones every line has come first, then a forwarded request's
/// upstream, endpoint and (if any) retries, so the columns of other lines stay where they were.
fn fields<'a>(event: &AccessEvent<'a>) -> [(Name, Option<Value<'a>>); 12] {
    [
        (name!("client"), Some(Value::Str(event.client))),
        (name!("authid"), Some(Value::Str(event.authid))),
        (name!("method"), Some(Value::Str(event.method))),
        (name!("path"), Some(Value::Str(event.path))),
        (name!("route"), Some(Value::Str(event.route))),
        (name!("decision"), Some(Value::Str(event.decision))),
        (name!("reason"), Some(Value::Str(event.reason))),
        (name!("status"), Some(Value::Num(event.status.into()))),
        (name!("latency_us"), Some(Value::Num(event.latency_us()))),
        (name!("upstream"), event.upstream.map(Value::Str)),
        (name!("endpoint"), event.endpoint.map(Value::Str)),
        (
            name!("retries"),
            event.retries().map(|n| Value::Num(n.into())),
        ),
    ]
}

/// Printable ASCII without `"` and `\`: written as is by both `Debug` and JSON. Checked eight
/// bytes at a time, as this runs over every byte of the line.
fn plain(s: &str) -> bool {
    let mut chunks = s.as_bytes().chunks_exact(8);
    let mut word = [0u8; 8];
    chunks.by_ref().all(|c| {
        word.copy_from_slice(c);
        plain8(u64::from_le_bytes(word))
    }) && chunks
        .remainder()
        .iter()
        .all(|&b| plain8(u64::from(b) * ONES))
}

/// [`plain`] for the eight bytes of `x`.
fn plain8(x: u64) -> bool {
    // Without the high bit, adding 0x60 sets it exactly in the bytes >= 0x20 (and never
    // carries into the next byte).
    x & HIGH == 0
        && x.wrapping_add(0x60 * ONES) & HIGH == HIGH
        && !has_byte(x, 0x7f)
        && !has_byte(x, b'"')
        && !has_byte(x, b'\\')
}

/// Whether any of the eight bytes of `x` is `b`.
fn has_byte(x: u64, b: u8) -> bool {
    let y = x ^ (u64::from(b) * ONES);
    y.wrapping_sub(ONES) & !y & HIGH != 0
}

fn quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// One in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
const HIGH: u64 = 0x8080_8080_8080_8080;

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::observe::LogWriter;
    use crate::observe::timestamp::timestamp;

    /// The line tracing-subscriber writes for `event.log(..)` (to the tracing access log, as
    /// in unit tests) and the line written here, both without their timestamps (they differ by
    /// the time between the two).
    fn both(format: LogFormat, event: &AccessEvent) -> (String, String) {
        let out = LogWriter::default();
        let lines = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || lines.clone());
        let log = || event.log(&crate::observe::AccessLog::tracing());
        match format {
            LogFormat::Text => tracing::subscriber::with_default(builder.finish(), log),
            LogFormat::Json => tracing::subscriber::with_default(builder.json().finish(), log),
        }
        let theirs = String::from_utf8(out.lock().clone()).unwrap();
        let mut ours = Vec::new();
        write(
            &mut ours,
            format,
            &timestamp(SystemTime::now()).unwrap(),
            event,
        );
        let ours = String::from_utf8(ours).unwrap();
        // Where the 27-byte timestamp starts.
        let at = match format {
            LogFormat::Text => 0,
            LogFormat::Json => "{\"timestamp\":\"".len(),
        };
        let cut = |s: &str| format!("{}{}", &s[..at], &s[at + 27..]);
        (cut(&theirs), cut(&ours))
    }

    #[test]
    fn plain_is_the_byte_rule() {
        let rule = |s: &str| {
            s.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        };
        for b in 0..=u8::MAX {
            for at in 0..17 {
                let mut bytes = *b"abcdefghijklmnopq";
                bytes[at] = b;
                if let Ok(s) = std::str::from_utf8(&bytes) {
                    assert_eq!(plain(s), rule(s), "byte {b:#x} at {at}");
                }
            }
        }
        assert!(plain("") && !plain("ü") && !plain("\u{e9}abcdefgh") && !plain("abcdefgh\u{e9}"));
    }

    #[test]
    fn same_text_as_tracing_subscriber() {
        fn check(format: LogFormat, authid: &str, path: &str, status: u16, micros: u64) {
            let forwarded = status == 200;
            let event = AccessEvent {
                client: "2001:db8::7",
                authid,
                method: "GET",
                path,
                route: "p.toml:3",
                decision: "allow",
                reason: "check passed",
                status,
                latency: Duration::from_micros(micros),
                upstream: forwarded.then_some("pve"),
                endpoint: forwarded.then_some("https://10.0.0.1:8006"),
                retries: u32::from(micros.is_multiple_of(2)) * 2,
            };
            let (theirs, ours) = both(format, &event);
            assert_eq!(
                ours, theirs,
                "{format:?} authid={authid:?} path={path:?} status={status} micros={micros}"
            );
        }
        for format in [LogFormat::Text, LogFormat::Json] {
            let path = "/api2/json/nodes/n1/qemu/100/status/current";
            check(format, "joe@pve!monitoring", path, 200, 1234);
            check(format, "-", "/a \"quoted\" \\ path", 401, 3_000_123);
            check(
                format,
                "root@pam",
                "/ünïcode/\u{7f}/\t/\n/\u{1}/\u{2028}",
                0,
                0,
            );
            check(format, "", "", 65535, u64::MAX);
        }
    }
}
