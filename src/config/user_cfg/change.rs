//! [`Change`]: one edit of `user.cfg` small enough to apply to a running model without a full
//! reload — a token, a user's account, a group membership, a role's privileges or one ACL
//! entry. The writer that made it on disk can hand the same value to the running gateway (and a
//! store watcher can make one from a single changed key), which applies it to its model and
//! engine (`access::Engine::apply`, [`super::AuthIndex::apply`]) instead of re-reading a
//! million lines. [`UserConfig::apply`] is the reference: applying a change there, writing the
//! file and loading it again must give the same decisions (tests/incremental_changes.rs).

use super::{AclMember, Token, UserConfig};
use crate::identity::{GroupId, RoleId, Tokenid, Userid};
use crate::vocabulary::{AclPath, PrivSet};

/// One incremental edit of `user.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create the user, or set its account fields (other fields and tokens are kept).
    UserSet {
        id: Userid,
        enable: bool,
        expire: u64,
    },
    /// Remove the user with its tokens, their ACL entries and its group memberships (its own
    /// ACL entries stay, as [`UserConfig::remove_user`] says).
    UserRemove(Userid),
    /// Create the token (its owner must exist), or set its fields.
    TokenSet {
        id: Tokenid,
        expire: u64,
        privsep: bool,
    },
    /// Remove the token and its ACL entries.
    TokenRemove(Tokenid),
    /// Add (`member: true`) or remove a group member; adding creates the group if needed.
    GroupMember {
        group: GroupId,
        user: Userid,
        member: bool,
    },
    /// Create a custom role or set its privileges (built-in roles cannot be changed).
    RoleSet { id: RoleId, privs: PrivSet },
    /// Set (`Some(propagate)`) or delete (`None`) one ACL entry. The role must exist and a
    /// token member must be defined, as the writers check before making the change.
    Acl {
        path: AclPath,
        member: AclMember,
        role: RoleId,
        propagate: Option<bool>,
    },
}

/// A change that cannot be applied to this state (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply change: {0}")]
pub struct ChangeError(pub String);

// === impl UserConfig ===

impl UserConfig {
    /// Apply `change` to this configuration, as the writer that made it did.
    pub fn apply(&mut self, change: &Change) -> Result<(), ChangeError> {
        check(self, change)?;
        match change {
            Change::UserSet { id, enable, expire } => {
                let user = self.users.entry(id.clone()).or_default();
                user.enable = *enable;
                user.expire = *expire;
            }
            Change::UserRemove(id) => {
                // A group member that is not a defined user still counts for permissions
                // (spec §2.1), so it leaves its groups even then, as the engine forgets it.
                for group in self.groups.values_mut() {
                    group.members.remove(id);
                }
                self.remove_user(id);
            }
            Change::TokenSet {
                id,
                expire,
                privsep,
            } => {
                let name = id.name().parse().map_err(|_| unknown("token", id))?;
                let user = self
                    .users
                    .get_mut(&id.user())
                    .ok_or_else(|| unknown("user", id))?;
                let token = user.tokens.entry(name).or_insert(Token {
                    expire: 0,
                    privsep: true,
                    comment: String::new(),
                });
                token.expire = *expire;
                token.privsep = *privsep;
            }
            Change::TokenRemove(id) => {
                if let (Some(user), Ok(name)) = (self.users.get_mut(&id.user()), id.name().parse())
                {
                    user.tokens.remove(&name);
                }
                self.remove_token_acl(id);
            }
            Change::GroupMember {
                group,
                user,
                member,
            } => {
                if *member {
                    let g = self.groups.entry(group.clone()).or_default();
                    g.members.insert(user.clone());
                } else if let Some(g) = self.groups.get_mut(group) {
                    g.members.remove(user);
                }
            }
            Change::RoleSet { id, privs } => {
                self.roles.insert(id.clone(), *privs);
            }
            Change::Acl {
                path,
                member,
                role,
                propagate,
            } => {
                let node = self.acl.entry(path.clone()).or_default();
                let roles = match member {
                    AclMember::User(u) => node.users.entry(u.clone()).or_default(),
                    AclMember::Group(g) => node.groups.entry(g.clone()).or_default(),
                    AclMember::Token(t) => node.tokens.entry(t.clone()).or_default(),
                };
                match propagate {
                    Some(p) => {
                        roles.insert(role.clone(), *p);
                    }
                    None => {
                        roles.remove(role);
                    }
                }
                node.users.retain(|_, r| !r.is_empty());
                node.groups.retain(|_, r| !r.is_empty());
                node.tokens.retain(|_, r| !r.is_empty());
                if node.is_empty() {
                    self.acl.remove(path);
                }
            }
        }
        Ok(())
    }
}

impl UserConfig {
    /// [`UserConfig::apply`] to a configuration that holds no ACL entries (the gateway's, whose
    /// entries live in its engine): an `Acl` change is checked but not stored.
    pub fn apply_without_acl(&mut self, change: &Change) -> Result<(), ChangeError> {
        if matches!(change, Change::Acl { .. }) {
            return check(self, change);
        }
        self.apply(change)
    }
}

/// The preconditions every model checks the same way before applying `change`.
pub(crate) fn check(cfg: &UserConfig, change: &Change) -> Result<(), ChangeError> {
    match change {
        Change::TokenSet { id, .. } if !cfg.users.contains_key(&id.user()) => {
            Err(unknown("owner of token", id))
        }
        Change::RoleSet { id, .. } if crate::vocabulary::is_builtin_role(id.as_str()) => Err(
            ChangeError(format!("built-in role '{id}' cannot be changed")),
        ),
        Change::Acl { role, .. } if cfg.role_privs(role).is_none() => Err(unknown("role", role)),
        Change::Acl {
            member: AclMember::Token(t),
            propagate: Some(_),
            ..
        } if cfg.token(t).is_none() => Err(unknown("token", t)),
        _ => Ok(()),
    }
}

fn unknown(what: &str, id: &impl std::fmt::Display) -> ChangeError {
    ChangeError(format!("no such {what} '{id}'"))
}
