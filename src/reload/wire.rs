//! How a [`Written`] travels over the control socket: one JSON object per line, the changes in
//! text form (ids as written in `user.cfg`), parsed back with the ids' own validation.

use serde::{Deserialize, Serialize};

use super::Applied;
use crate::config::state_dir::{Stamp, Written};
use crate::config::user_cfg::{AclMember, Change};
use crate::vocabulary::{AclPath, PrivSet};

/// A [`Written`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireWritten {
    before: Stamp,
    after: Stamp,
    changes: Option<Vec<WireChange>>,
}

/// The gateway's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Reply {
    Applied(Applied),
    Error { error: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum WireChange {
    UserSet {
        id: String,
        enable: bool,
        expire: u64,
    },
    UserRemove {
        id: String,
    },
    TokenSet {
        id: String,
        expire: u64,
        privsep: bool,
    },
    TokenRemove {
        id: String,
    },
    GroupMember {
        group: String,
        user: String,
        member: bool,
    },
    RoleSet {
        id: String,
        privs: String,
    },
    Acl {
        path: String,
        /// `user@realm`, `@group` or `user@realm!token`.
        member: String,
        role: String,
        propagate: Option<bool>,
    },
}

// === impl WireWritten ===

impl WireWritten {
    pub(super) fn from_written(w: &Written) -> WireWritten {
        WireWritten {
            before: w.before.clone(),
            after: w.after.clone(),
            changes: w
                .changes
                .as_ref()
                .map(|c| c.iter().map(WireChange::from_change).collect()),
        }
    }

    pub(super) fn into_written(self) -> Result<Written, String> {
        let changes = match self.changes {
            None => None,
            Some(list) => Some(
                list.into_iter()
                    .map(WireChange::into_change)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Written {
            before: self.before,
            after: self.after,
            changes,
        })
    }
}

// === impl WireChange ===

impl WireChange {
    fn from_change(c: &Change) -> WireChange {
        match c {
            Change::UserSet { id, enable, expire } => WireChange::UserSet {
                id: id.to_string(),
                enable: *enable,
                expire: *expire,
            },
            Change::UserRemove(id) => WireChange::UserRemove { id: id.to_string() },
            Change::TokenSet {
                id,
                expire,
                privsep,
            } => WireChange::TokenSet {
                id: id.to_string(),
                expire: *expire,
                privsep: *privsep,
            },
            Change::TokenRemove(id) => WireChange::TokenRemove { id: id.to_string() },
            Change::GroupMember {
                group,
                user,
                member,
            } => WireChange::GroupMember {
                group: group.to_string(),
                user: user.to_string(),
                member: *member,
            },
            Change::RoleSet { id, privs } => WireChange::RoleSet {
                id: id.to_string(),
                privs: privs.to_string(),
            },
            Change::Acl {
                path,
                member,
                role,
                propagate,
            } => WireChange::Acl {
                path: path.to_string(),
                member: match member {
                    AclMember::User(u) => u.to_string(),
                    AclMember::Group(g) => format!("@{g}"),
                    AclMember::Token(t) => t.to_string(),
                },
                role: role.to_string(),
                propagate: *propagate,
            },
        }
    }

    fn into_change(self) -> Result<Change, String> {
        Ok(match self {
            WireChange::UserSet { id, enable, expire } => Change::UserSet {
                id: parse(&id)?,
                enable,
                expire,
            },
            WireChange::UserRemove { id } => Change::UserRemove(parse(&id)?),
            WireChange::TokenSet {
                id,
                expire,
                privsep,
            } => Change::TokenSet {
                id: parse(&id)?,
                expire,
                privsep,
            },
            WireChange::TokenRemove { id } => Change::TokenRemove(parse(&id)?),
            WireChange::GroupMember {
                group,
                user,
                member,
            } => Change::GroupMember {
                group: parse(&group)?,
                user: parse(&user)?,
                member,
            },
            WireChange::RoleSet { id, privs } => Change::RoleSet {
                id: parse(&id)?,
                privs: PrivSet::from_names(privs.split(',').filter(|p| !p.is_empty()))
                    .map_err(|e| format!("unknown privilege `{}`", e.0))?,
            },
            WireChange::Acl {
                path,
                member,
                role,
                propagate,
            } => Change::Acl {
                path: AclPath::normalize(&path).ok_or_else(|| format!("invalid path `{path}`"))?,
                member: if let Some(group) = member.strip_prefix('@') {
                    AclMember::Group(parse(group)?)
                } else if member.contains('!') {
                    AclMember::Token(parse(&member)?)
                } else {
                    AclMember::User(parse(&member)?)
                },
                role: parse(&role)?,
                propagate,
            },
        })
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("invalid id `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_survives_the_wire() {
        let text = "user:u@pve:1:0:::::\ntoken:u@pve!tk:0:1::\nrole:R:VM.Audit,Sys.Audit:\n";
        let (cfg, _) = crate::config::UserConfig::parse(text);
        let mut next = cfg.clone();
        next.users.remove(&"u@pve".parse().unwrap());
        let changes = vec![
            Change::UserSet {
                id: "v@pve".parse().unwrap(),
                enable: false,
                expire: 7,
            },
            Change::TokenSet {
                id: "v@pve!tk".parse().unwrap(),
                expire: 9,
                privsep: false,
            },
            Change::GroupMember {
                group: "g".parse().unwrap(),
                user: "v@pve".parse().unwrap(),
                member: true,
            },
            Change::RoleSet {
                id: "R".parse().unwrap(),
                privs: cfg.roles[&"R".parse().unwrap()],
            },
            Change::Acl {
                path: AclPath::normalize("/vms/100").unwrap(),
                member: AclMember::Group("g".parse().unwrap()),
                role: "R".parse().unwrap(),
                propagate: Some(false),
            },
            Change::Acl {
                path: AclPath::normalize("/").unwrap(),
                member: AclMember::Token("v@pve!tk".parse().unwrap()),
                role: "PVEAuditor".parse().unwrap(),
                propagate: None,
            },
            Change::TokenRemove("u@pve!tk".parse().unwrap()),
            Change::UserRemove("u@pve".parse().unwrap()),
        ];
        let state = crate::config::StateDir::new("/nonexistent");
        let written = Written {
            before: Stamp::of(&state),
            after: Stamp::of(&state),
            changes: Some(changes),
        };
        let line = serde_json::to_string(&WireWritten::from_written(&written)).unwrap();
        let back: WireWritten = serde_json::from_str(&line).unwrap();
        assert_eq!(back.into_written().unwrap(), written);
        for bad in [
            r#"{"before":null,"after":null,"changes":null}"#,
            r#"{"before":{"dir":null,"files":[]},"after":{"dir":null,"files":[]},"changes":[{"op":"user-set","id":"nope","enable":true,"expire":0}]}"#,
            r#"{"before":{"dir":null,"files":[]},"after":{"dir":null,"files":[]},"changes":[{"op":"role-set","id":"R","privs":"Bogus.Priv"}]}"#,
        ] {
            let parsed = serde_json::from_str::<WireWritten>(bad)
                .map_err(|e| e.to_string())
                .and_then(WireWritten::into_written);
            assert!(parsed.is_err(), "{bad}");
        }
    }
}
