//! One structured access-log line per request (target `aclgate::access`). Never a secret: the
//! credential itself is not part of the event, only the authenticated id.
//!
//! Under `serve`'s own logging the line is written straight into its [`LogWriter`] (see
//! [`AccessLog::direct`]): tracing's dispatch, filter and field visitor were most of the
//! line's cost. Everywhere else (tests, a library user's subscriber) it is a tracing event
//! ([`AccessLog::tracing`]). The [`AccessLog`] is a value in the gateway's runtime state, not
//! a global.

use std::time::{Duration, SystemTime};

use tracing::Level;

use super::timestamp::timestamp;
use super::{LogWriter, access_line};
use crate::config::gateway::LogFormat;

/// The access log's target.
pub const ACCESS_TARGET: &str = "aclgate::access";

/// What one request came to.
#[derive(Debug)]
pub struct AccessEvent<'a> {
    /// The client's address: the TCP peer, the PROXY header's source, or the address a trusted
    /// proxy forwarded (`X-Forwarded-For`), as `allowed-ips` and throttling saw it.
    pub client: &'a str,
    /// Authenticated id, `-` if none.
    pub authid: &'a str,
    pub method: &'a str,
    /// The request path as received (no query string: it may carry secrets).
    pub path: &'a str,
    /// The matched route's source (`file:line`), `-` if none.
    pub route: &'a str,
    /// `allow`, `deny`, `unauthenticated`, `not_found`, `invalid`.
    pub decision: &'a str,
    /// Why (Proxmox's message for a deny; an internal cause for an authentication failure).
    pub reason: &'a str,
    pub status: u16,
    pub latency: Duration,
    /// A forwarded request's upstream, `None` for requests not forwarded.
    pub upstream: Option<&'a str>,
    /// The endpoint (`scheme://host:port`) that answered, or the last one tried.
    pub endpoint: Option<&'a str>,
    /// Endpoints tried before that one (written only when above 0).
    pub retries: u32,
}

/// Where access lines go: tracing events, or straight into `serve`'s log writer.
#[derive(Default)]
pub struct AccessLog {
    direct: Option<Direct>,
}

// === impl AccessLog ===

impl AccessLog {
    /// Access lines as tracing events (for tests and a library user's own subscriber).
    pub fn tracing() -> AccessLog {
        AccessLog::default()
    }

    /// Access lines written straight into `writer` as `format` (the text the global subscriber
    /// would write, without colours) instead of tracing events. Make it right after installing
    /// that subscriber: whether the access log is on is decided here, by its filter
    /// (`ACLGATE_LOG=warn` or `aclgate::access=off` turn it off).
    pub fn direct(writer: LogWriter, format: LogFormat) -> AccessLog {
        // The same target, level and field names as the event in `AccessEvent::emit`.
        let enabled = tracing::event_enabled!(
            target: ACCESS_TARGET,
            Level::INFO,
            client,
            authid,
            method,
            path,
            route,
            decision,
            reason,
            status,
            latency_us,
            upstream,
            endpoint,
            retries
        );
        AccessLog {
            direct: Some(Direct {
                writer,
                format,
                enabled,
            }),
        }
    }
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.direct.is_some() {
            "AccessLog(direct)"
        } else {
            "AccessLog(tracing)"
        })
    }
}

impl AccessEvent<'_> {
    /// Log the event to `log`.
    pub fn log(&self, log: &AccessLog) {
        let Some(direct) = &log.direct else {
            return self.emit();
        };
        if !direct.enabled {
            return;
        }
        match timestamp(SystemTime::now()) {
            Some(stamp) => direct
                .writer
                .append(|out| access_line::write(out, direct.format, &stamp, self)),
            // Outside 1970..=9999: the subscriber's own timer can write it.
            None => self.emit(),
        }
    }

    /// `retries` when there were any (the field is left out otherwise).
    pub(crate) fn retries(&self) -> Option<u32> {
        (self.retries > 0).then_some(self.retries)
    }

    /// `latency` in whole microseconds.
    pub(crate) fn latency_us(&self) -> u64 {
        u64::try_from(self.latency.as_micros()).unwrap_or(u64::MAX)
    }

    fn emit(&self) {
        tracing::info!(
            target: ACCESS_TARGET,
            client = self.client,
            authid = self.authid,
            method = self.method,
            path = self.path,
            route = self.route,
            decision = self.decision,
            reason = self.reason,
            status = self.status,
            latency_us = self.latency_us(),
            upstream = self.upstream,
            endpoint = self.endpoint,
            retries = self.retries(),
        );
    }
}

/// Where [`AccessLog::direct`] sends access lines.
struct Direct {
    writer: LogWriter,
    format: LogFormat,
    /// The subscriber's filter lets `aclgate::access` events through.
    enabled: bool,
}
