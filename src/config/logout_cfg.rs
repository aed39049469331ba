//! The logout list `state/logout.cfg` (beyond Proxmox, whose tickets die only by age): "every
//! ticket of USER stamped at or before EPOCH is invalid". Written by `aclgate user logout`
//! under the state lock (temp file + rename), read into the snapshot, and consulted on every
//! ticket-authenticated request, so all instances sharing the state refuse those tickets after
//! their next reload.
//!
//! ```text
//! # aclgate logout list: tickets of <userid> stamped at or before <epoch> are invalid
//! joe@pve 1700000000
//! ```
//! A ticket stamped in the very second of the logout is refused too (fail closed); a login
//! one second later works. Lines older than any ticket that could still be valid are dropped
//! on the next write.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use thiserror::Error;

use super::auth_settings::{CLOCK_SKEW, TICKET_LIFETIME};
use super::state_dir::read_lines;
use super::{StateDir, StateError};
use crate::identity::Userid;

/// Users whose older tickets are revoked, with the logout time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutList {
    entries: BTreeMap<Userid, i64>,
}

/// Why the logout list could not be read or written.
#[derive(Debug, Error)]
pub enum LogoutError {
    /// A line of `logout.cfg` is not `<userid> <epoch>`.
    #[error("logout.cfg line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading, locking or writing the state directory failed.
    #[error(transparent)]
    State(#[from] StateError),
}

// === impl LogoutList ===

impl LogoutList {
    /// `<state>/logout.cfg`.
    pub fn path(state: &StateDir) -> PathBuf {
        state.root().join("logout.cfg")
    }

    /// Read the list of `state` (a missing file is an empty list).
    pub fn read(state: &StateDir) -> Result<LogoutList, LogoutError> {
        match read_lines(&Self::path(state))? {
            Some(text) => Self::parse(&text),
            None => Ok(LogoutList::default()),
        }
    }

    /// Record under the state lock that the tickets of `userid` stamped at or before `now`
    /// are invalid, dropping entries no ticket can outlive.
    pub fn logout(state: &StateDir, userid: &Userid, now: i64) -> Result<(), LogoutError> {
        state.locked(|state| {
            let mut list = Self::read(state)?;
            list.record(userid.clone(), now);
            list.prune(now);
            state.write_plain(&Self::path(state), list.write().as_bytes())?;
            Ok(())
        })
    }

    /// Parse `logout.cfg`. Any bad line refuses the whole file (a reload then keeps the
    /// previous list). A user listed twice keeps the later time.
    pub fn parse(text: &str) -> Result<LogoutList, LogoutError> {
        let mut list = LogoutList::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let bad = |message: String| LogoutError::Parse { line, message };
            let (userid, epoch) = raw
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("expected `<userid> <epoch>`".to_owned()))?;
            let userid: Userid = userid
                .parse()
                .map_err(|_| bad(format!("invalid user id `{userid}`")))?;
            let epoch = epoch.trim();
            let epoch: i64 = epoch
                .parse()
                .map_err(|_| bad(format!("invalid time `{epoch}`")))?;
            list.record(userid, epoch);
        }
        Ok(list)
    }

    /// The file text, one line per user in userid order.
    pub fn write(&self) -> String {
        let mut out = String::from(HEADER);
        for (userid, epoch) in &self.entries {
            let _ = writeln!(out, "{userid} {epoch}");
        }
        out
    }

    /// Whether a ticket of `userid` stamped `issued_at` has been revoked by a logout.
    pub fn is_revoked(&self, userid: &Userid, issued_at: i64) -> bool {
        self.entries.get(userid).is_some_and(|&at| issued_at <= at)
    }

    /// Revoke the tickets of `userid` stamped at or before `at` (a later time than the one
    /// recorded wins; an earlier one changes nothing).
    pub fn record(&mut self, userid: Userid, at: i64) {
        let entry = self.entries.entry(userid).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// Drop entries whose every ticket has expired by `now` anyway (with the clock-skew
    /// allowance, so that an instance whose clock is behind still refuses them).
    pub fn prune(&mut self, now: i64) {
        let horizon = now.saturating_sub(TICKET_LIFETIME + CLOCK_SKEW);
        self.entries.retain(|_, at| *at > horizon);
    }

    /// The logout time recorded for `userid`.
    pub fn logged_out_at(&self, userid: &Userid) -> Option<i64> {
        self.entries.get(userid).copied()
    }

    /// Number of users listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

const HEADER: &str =
    "# aclgate logout list: tickets of <userid> stamped at or before <epoch> are invalid\n";
