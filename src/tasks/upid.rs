//! Proxmox's unique task id (`PVE::Tools::upid_encode`/`upid_decode`):
//! `UPID:$node:$pid:$pstart:$starttime:$type:$id:$user:` with pid, pstart and starttime in
//! upper-case hex (8 digits at least) and `:` in the id written as `\x3a`-free text (Proxmox
//! refuses ids containing `:`).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A decoded UPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// The node the task runs on.
    pub node: String,
    /// The worker's process id.
    pub pid: u32,
    /// The worker's process start time (clock ticks since boot).
    pub pstart: u64,
    /// When the task started (seconds since the epoch).
    pub starttime: i64,
    /// The task type (`auth-realm-sync`, `auth-realm-sync-test`, ...).
    pub kind: String,
    /// What the task works on (a realm name); may be empty.
    pub id: String,
    /// Who started it (an authid).
    pub user: String,
}

/// A text that is not a UPID: Proxmox's `unable to parse worker upid`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unable to parse worker upid '{0}'")]
pub struct BadUpid(pub String);

// === impl Upid ===

impl Upid {
    /// The sub-directory of the task directory holding this task's log: the last hex digit
    /// of the start time, as Proxmox's `upid_decode` names it.
    pub fn subdir(&self) -> char {
        let hex = format!("{:08X}", self.starttime);
        hex.chars().last().unwrap_or('0')
    }

    /// The API's view of the task (`read_task_status` before the status is added).
    pub fn to_json(&self) -> serde_json::Value {
        let (user, tokenid) = match self.user.split_once('!') {
            Some((user, token)) => (user, Some(token)),
            None => (self.user.as_str(), None),
        };
        let mut out = serde_json::json!({
            "upid": self.to_string(),
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.kind,
            "id": self.id,
            "user": user,
        });
        if let (Some(token), Some(map)) = (tokenid, out.as_object_mut()) {
            map.insert("tokenid".to_owned(), token.into());
        }
        out
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.kind, self.id, self.user
        )
    }
}

impl FromStr for Upid {
    type Err = BadUpid;

    fn from_str(s: &str) -> Result<Upid, BadUpid> {
        let bad = || BadUpid(s.to_owned());
        let rest = s.strip_prefix("UPID:").ok_or_else(bad)?;
        let rest = rest.strip_suffix(':').ok_or_else(bad)?;
        let fields: Vec<&str> = rest.split(':').collect();
        let [node, pid, pstart, start, kind, id, user] = fields[..] else {
            return Err(bad());
        };
        let hex = |t: &str, min: usize| -> Result<u64, BadUpid> {
            if t.len() < min || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            u64::from_str_radix(t, 16).map_err(|_| bad())
        };
        let name_ok = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let text_ok = |t: &str| !t.contains(['/', '\0']) && !t.contains("..");
        if !name_ok(node) || !name_ok(kind) || !text_ok(id) || !text_ok(user) || user.is_empty() {
            return Err(bad());
        }
        Ok(Upid {
            node: node.to_owned(),
            pid: u32::try_from(hex(pid, 8)?).map_err(|_| bad())?,
            pstart: hex(pstart, 8)?,
            starttime: i64::try_from(hex(start, 8)?).map_err(|_| bad())?,
            kind: kind.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fields() {
        let text = "UPID:pve1:00001234:0000ABCD:65A1B2C3:auth-realm-sync:ldap1:root@pam:";
        let upid: Upid = text.parse().expect("a UPID");
        assert_eq!(upid.node, "pve1");
        assert_eq!(upid.pid, 0x1234);
        assert_eq!(upid.pstart, 0xABCD);
        assert_eq!(upid.starttime, 0x65A1_B2C3);
        assert_eq!(upid.kind, "auth-realm-sync");
        assert_eq!(upid.id, "ldap1");
        assert_eq!(upid.subdir(), '3');
        assert_eq!(upid.to_string(), text);
        let token: Upid = "UPID:n:00000001:00000002:00000003:t::a@pve!tk:"
            .parse()
            .expect("a token UPID");
        assert_eq!(token.to_json()["user"], "a@pve");
        assert_eq!(token.to_json()["tokenid"], "tk");
    }

    #[test]
    fn refusals() {
        for text in [
            "",
            "UPID:n:1:2:3:t:i:u:",
            "UPID:n:00000001:00000002:00000003:t:i:u",
            "UPID:n:0000000g:00000002:00000003:t:i:u:",
            "UPID:../x:00000001:00000002:00000003:t:i:u:",
            "UPID:n:00000001:00000002:00000003:t:../../x:u:",
            "UPID:n:00000001:00000002:00000003:t:i::",
            "XPID:n:00000001:00000002:00000003:t:i:u:",
        ] {
            assert!(text.parse::<Upid>().is_err(), "{text:?} parsed");
        }
    }
}
