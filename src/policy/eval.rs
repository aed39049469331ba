//! The pure decision (spec §5.1, §5.3): route + caller + parameters + snapshot → [`Decision`].
//!
//! No I/O, no locks. The caller is resolved once ([`Engine::subject`]); every checked path then
//! costs one [`Engine::privs_of`]. Allowing builds no strings; the reason of a denial is built
//! only when denying and displays as Proxmox's 403 message.

use std::fmt;

use crate::access::{Engine, PrivSet, Privilege};
use crate::config::UserConfig;
use crate::config::text::split_list;
use crate::identity::{Authid, GroupId, Userid};

use super::check::{Check, GroupsParam};
use super::params::Params;
use super::route::{Access, Route};
use super::template::Template;

/// Everything `eval` reads, borrowed from one snapshot.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// The permission engine compiled from `users`.
    pub engine: &'a Engine,
    /// The user configuration (users, groups) the engine was built from.
    pub users: &'a UserConfig,
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The authentication id: a userid, or the full token id for token requests.
    pub authid: &'a Authid,
    /// Whether the request was authenticated by an API token.
    pub via_token: bool,
}

/// The outcome of [`eval`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allow: bool,
    /// Why; its `Display` is Proxmox's message (the 403 body for denials).
    pub reason: Reason,
}

/// Why a request was allowed or denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Allowed: `user = "world"`.
    World,
    /// Allowed: the caller is root@pam.
    Root,
    /// Allowed: `user = "all"`.
    All,
    /// Allowed: the route's check passed.
    CheckPassed,
    /// Denied: an API token on an `allowtoken = false` route; `uri` is the relative request path.
    TokenNotAllowed { uri: String },
    /// Denied: a route without permissions (root@pam only).
    RootOnly,
    /// Denied: privileges missing on a path; `privs` is one name, or `a|b` for any-of checks.
    MissingPrivs { path: String, privs: String },
    /// Denied without detail (`or`, `require_param`, `userid-param self`, group membership).
    Failed,
    /// Denied: a parameter a path template needs is missing, empty or not a path component.
    BadParam { name: String },
    /// Denied: `userid` names no existing user.
    NoSuchUser { userid: String },
    /// Denied: `userid` is missing or not a valid userid.
    BadUserid { value: Option<String> },
}

/// Decide whether `caller` may call `route` with `params` (spec §5.1, in this order: allowtoken,
/// world, root@pam, root-only, all, check).
pub fn eval(
    route: &Route,
    caller: &Caller<'_>,
    params: &Params<'_>,
    ctx: &EvalContext<'_>,
) -> Decision {
    let token = caller.via_token || caller.authid.is_token();
    // Checked before everything else, root's tokens included (spec §5.1 step 1).
    if token && !route.allowtoken {
        return deny(Reason::TokenNotAllowed {
            uri: route.relative_uri(params),
        });
    }
    match &route.access {
        // No authentication required.
        Access::World => allow(Reason::World),
        // root@pam, the user (never a token: `is_root` is false for tokens), passes everything.
        _ if caller.authid.is_root() && !token => allow(Reason::Root),
        // No permissions object: root@pam only.
        Access::RootOnly => deny(Reason::RootOnly),
        // Any authenticated user or token.
        Access::All => allow(Reason::All),
        // The schema check, against one resolved subject.
        Access::Check(check) => {
            let subject = ctx.engine.subject(caller.authid);
            let ev = Evaluator {
                ctx,
                caller,
                params,
                granted: |path: &str| ctx.engine.privs_of(subject, path).granted,
            };
            match ev.check(check) {
                Ok(()) => allow(Reason::CheckPassed),
                Err(reason) => deny(reason),
            }
        }
    }
}

// === impl Reason ===

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::World => f.write_str("allowed: route open to the world"),
            Reason::Root => f.write_str("allowed: root@pam"),
            Reason::All => f.write_str("allowed: route open to every authenticated user"),
            Reason::CheckPassed => f.write_str("allowed: permission check passed"),
            Reason::TokenNotAllowed { uri } => write!(
                f,
                "Permission check failed (URI '{uri}' not available with API token, need proper ticket.\n)"
            ),
            Reason::RootOnly => f.write_str("Permission check failed (user != root@pam)"),
            Reason::MissingPrivs { path, privs } => {
                write!(f, "Permission check failed ({path}, {privs})")
            }
            Reason::Failed => f.write_str("Permission check failed"),
            Reason::BadParam { name } => write!(
                f,
                "Permission check failed (parameter '{name}' missing or not a valid path component)"
            ),
            Reason::NoSuchUser { userid } => write!(f, "no such user ('{userid}')"),
            Reason::BadUserid { value: None } => f.write_str("no username specified"),
            Reason::BadUserid { value: Some(v) } => {
                write!(f, "value '{v}' does not look like a valid user name")
            }
        }
    }
}

// === the evaluator ===

struct Evaluator<'e, 'a, G> {
    ctx: &'e EvalContext<'a>,
    caller: &'e Caller<'a>,
    params: &'e Params<'e>,
    /// The caller's privileges on a path (the subject is resolved once, outside).
    granted: G,
}

impl<G: Fn(&str) -> PrivSet> Evaluator<'_, '_, G> {
    fn check(&self, check: &Check) -> Result<(), Reason> {
        match check {
            // Privileges on one templated path; `require_param` is tested before substituting.
            Check::Perm {
                path,
                privs,
                set,
                any,
                require_param,
            } => {
                if let Some(p) = require_param
                    && self.params.get(p).is_none()
                {
                    return Err(Reason::Failed);
                }
                self.templated(path, |p| self.privs_on(p, privs, *set, *any))
            }
            // All must pass; the first failure is the reason.
            Check::And(subs) => subs.iter().try_for_each(|c| self.check(c)),
            // One must pass (plain boolean semantics, spec §5.3); otherwise a bare failure.
            Check::Or(subs) => match subs.iter().any(|c| self.check(c).is_ok()) {
                true => Ok(()),
                false => Err(Reason::Failed),
            },
            // `userid` is an existing user and is the caller itself (a token never is).
            Check::UseridParamSelf => {
                let userid = self.existing_userid()?;
                match self.caller.authid {
                    Authid::User(u) if *u == userid => Ok(()),
                    _ => Err(Reason::Failed),
                }
            }
            // Realm.AllocateUser on the realm of `userid` (the user need not exist).
            Check::UseridParamRealmAllocateUser => {
                let userid = self.userid()?;
                let path = format!("/access/realm/{}", userid.realm());
                let p = known("Realm.AllocateUser");
                self.privs_on(&path, &[p], PrivSet::EMPTY.with(p), false)
            }
            // User administration, globally or delegated through groups (spec §5.3).
            Check::UseridGroup {
                privs,
                set,
                groups_param,
            } => self.userid_group(privs, *set, *groups_param),
            // May modify the ACL at the templated path.
            Check::PermModify { path } => self.templated(path, |p| self.perm_modify(p)),
        }
    }

    /// Run `f` on the substituted path, or deny naming the unusable parameter.
    fn templated(
        &self,
        template: &Template,
        f: impl FnOnce(&str) -> Result<(), Reason>,
    ) -> Result<(), Reason> {
        template
            .with_path(|n| self.params.get(n), f)
            .unwrap_or_else(|name| {
                Err(Reason::BadParam {
                    name: name.to_owned(),
                })
            })
    }

    /// `check` / `check_any` of Proxmox's RPC environment.
    fn privs_on(
        &self,
        path: &str,
        privs: &[Privilege],
        set: PrivSet,
        any: bool,
    ) -> Result<(), Reason> {
        let granted = (self.granted)(path);
        if any {
            if granted.intersects(set) {
                return Ok(());
            }
            return Err(Reason::MissingPrivs {
                path: path.to_owned(),
                privs: join(privs),
            });
        }
        match privs.iter().find(|p| !granted.contains(**p)) {
            None => Ok(()),
            Some(p) => Err(Reason::MissingPrivs {
                path: path.to_owned(),
                privs: p.name().to_owned(),
            }),
        }
    }

    /// Permissions.Modify, or the allocate privilege of the object kind, on `path`.
    fn perm_modify(&self, path: &str) -> Result<(), Reason> {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty())
        };
        let mut privs = vec![known("Permissions.Modify")];
        if under("/storage/") {
            privs.push(known("Datastore.Allocate"));
        } else if under("/vms/") {
            privs.push(known("VM.Allocate"));
        } else if under("/pool/") {
            privs.push(known("Pool.Allocate"));
        }
        let set = privs.iter().copied().collect();
        self.privs_on(path, &privs, set, true)
    }

    fn userid_group(
        &self,
        privs: &[Privilege],
        set: PrivSet,
        groups_param: Option<GroupsParam>,
    ) -> Result<(), Reason> {
        let existing = groups_param != Some(GroupsParam::Create);
        let userid = if existing {
            Some(self.existing_userid()?)
        } else {
            None
        };
        // A privilege on /access/groups covers every group and so every user.
        if self.privs_on("/access/groups", privs, set, true).is_ok() {
            return Ok(());
        }
        let delegated = |group: &GroupId| {
            self.ctx.users.groups.contains_key(group)
                && self
                    .privs_on(&format!("/access/groups/{group}"), privs, set, true)
                    .is_ok()
        };
        if groups_param.is_some() {
            let listed: Vec<&str> = split_list(self.params.get("groups").unwrap_or("")).collect();
            if listed.is_empty() {
                return Err(Reason::MissingPrivs {
                    path: "/access/groups".to_owned(),
                    privs: join(privs),
                });
            }
            for g in listed {
                if !g.parse::<GroupId>().is_ok_and(|g| delegated(&g)) {
                    return Err(Reason::MissingPrivs {
                        path: format!("/access/groups/{g}"),
                        privs: join(privs),
                    });
                }
            }
        }
        if let Some(userid) = userid {
            let member = self
                .ctx
                .users
                .groups
                .iter()
                .any(|(gid, g)| g.members.contains(&userid) && delegated(gid));
            if !member {
                return Err(Reason::Failed);
            }
        }
        Ok(())
    }

    /// The `userid` parameter as a userid.
    fn userid(&self) -> Result<Userid, Reason> {
        let raw = self
            .params
            .get("userid")
            .ok_or(Reason::BadUserid { value: None })?;
        raw.parse().map_err(|_| Reason::BadUserid {
            value: Some(raw.to_owned()),
        })
    }

    /// The `userid` parameter, which must name a defined user.
    fn existing_userid(&self) -> Result<Userid, Reason> {
        let userid = self.userid()?;
        if !self.ctx.users.users.contains_key(&userid) {
            return Err(Reason::NoSuchUser {
                userid: userid.to_string(),
            });
        }
        Ok(userid)
    }
}

// === helpers ===

fn allow(reason: Reason) -> Decision {
    Decision {
        allow: true,
        reason,
    }
}

fn deny(reason: Reason) -> Decision {
    Decision {
        allow: false,
        reason,
    }
}

/// A privilege named by a literal in this file.
fn known(name: &str) -> Privilege {
    // INVARIANT: only called with literals from `Privilege::NAMES`; covered by the tests.
    name.parse().expect("privilege literal is a known name")
}

/// `a|b|c`, as Proxmox names alternatives.
fn join(privs: &[Privilege]) -> String {
    privs.iter().map(|p| p.name()).collect::<Vec<_>>().join("|")
}
