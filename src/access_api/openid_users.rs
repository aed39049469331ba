//! From an OpenID login's verified claims to a userid, as Proxmox's `PVE::API2::OpenId`
//! `login` does it:
//!
//! - the username is the `username-claim` claim (default `sub`; the legacy values `subject`
//!   and `username` fall back to `sub` and `preferred_username`), plus `@<realm>`;
//! - `autocreate 1` creates a missing user (enabled, with `email`, `given_name` and
//!   `family_name` as email, first and last name); otherwise the user must exist and be
//!   enabled and unexpired;
//! - `groups-claim`: each valid group name `g` in that claim (a list) stands for the group
//!   `g-<realm>`; the user joins those that exist (`groups-autocreate 1`: all of them,
//!   creating the missing ones), after leaving every group first if `groups-overwrite 1`.
//!
//! Changes are written under the state lock and followed by a reload; the permission engine
//! of the written state is handed back so that the answer's `cap` already reflects them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::ApiContext;
use crate::access::Engine;
use crate::config::user_cfg::User;
use crate::config::{RealmConfig, StateError, UserConfig};
use crate::identity::{GroupId, Userid};

/// The user a login maps to.
pub struct Mapped {
    /// The userid (`<claim>@<realm>`).
    pub userid: Userid,
    /// The engine of the state written by this login, if it wrote anything.
    pub engine: Option<Engine>,
}

/// Map `claims` to a user of `realm`, creating it and its groups as configured.
pub async fn map_user(
    ctx: &ApiContext<'_>,
    realm: &RealmConfig,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<Mapped, String> {
    let name = username(realm, claims)?;
    let userid = Userid::from_parts(&name, realm.realm.as_str())
        .map_err(|e| format!("invalid username from claim: {e}"))?;
    let plan = Plan {
        userid: userid.clone(),
        autocreate: realm.flag("autocreate") == Some(true),
        profile: profile(claims),
        groups: groups(realm, claims),
        groups_autocreate: realm.flag("groups-autocreate") == Some(true),
        groups_overwrite: realm.flag("groups-overwrite") == Some(true),
        now: u64::try_from(now).unwrap_or(0),
    };
    let exists = ctx.snapshot.user_cfg.users.contains_key(&userid);
    if !exists && !plan.autocreate {
        return Err(format!("user '{userid}' does not exist"));
    }
    if !plan.needs_write(&ctx.snapshot.user_cfg) {
        let usable = ctx
            .snapshot
            .user_cfg
            .users
            .get(&userid)
            .is_some_and(|u| u.is_usable(plan.now));
        return if usable {
            Ok(Mapped {
                userid,
                engine: None,
            })
        } else {
            Err(format!("user '{userid}' is disabled or expired"))
        };
    }
    let state = ctx.services.state.clone();
    let written = tokio::task::spawn_blocking(move || {
        state.modify(|cfg, _tokens| {
            plan.apply(cfg)?;
            Ok(cfg.to_config())
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if let Err(e) = ctx.services.reload.reload().await {
        tracing::warn!(error = %e, "openid login: written, but the reload failed");
    }
    Ok(Mapped {
        userid,
        engine: Some(Engine::build(&written)),
    })
}

/// What a login changes, computed before the state lock is taken.
struct Plan {
    userid: Userid,
    autocreate: bool,
    profile: Profile,
    /// `None`: no groups claim configured or found (memberships stay as they are).
    groups: Option<BTreeSet<GroupId>>,
    groups_autocreate: bool,
    groups_overwrite: bool,
    now: u64,
}

/// Profile fields of a new user.
#[derive(Default)]
struct Profile {
    email: Option<String>,
    firstname: Option<String>,
    lastname: Option<String>,
}

// === impl Plan ===

impl Plan {
    /// Whether applying the plan to `cfg` would change it.
    fn needs_write(&self, cfg: &UserConfig) -> bool {
        let mut copy = cfg.clone();
        self.apply(&mut copy).is_err() || copy != *cfg
    }

    /// Create the user if missing (autocreate), check it is usable, set its groups.
    fn apply<A>(&self, cfg: &mut UserConfig<A>) -> Result<(), StateError> {
        let refuse = |m: String| StateError::Rejected(m);
        if !cfg.users.contains_key(&self.userid) {
            if !self.autocreate {
                return Err(refuse(format!("user '{}' does not exist", self.userid)));
            }
            let mut user = User::new();
            user.email = self.profile.email.clone().unwrap_or_default();
            user.firstname = self.profile.firstname.clone().unwrap_or_default();
            user.lastname = self.profile.lastname.clone().unwrap_or_default();
            cfg.users.insert(self.userid.clone(), user);
        }
        if !cfg
            .users
            .get(&self.userid)
            .is_some_and(|u| u.is_usable(self.now))
        {
            return Err(refuse(format!(
                "user '{}' is disabled or expired",
                self.userid
            )));
        }
        let Some(claimed) = &self.groups else {
            return Ok(());
        };
        let joined: Vec<GroupId> = if self.groups_autocreate {
            claimed.iter().cloned().collect()
        } else {
            claimed
                .iter()
                .filter(|g| cfg.groups.contains_key(*g))
                .cloned()
                .collect()
        };
        if self.groups_overwrite {
            for group in cfg.groups.values_mut() {
                group.members.remove(&self.userid);
            }
        }
        for id in joined {
            cfg.groups
                .entry(id)
                .or_default()
                .members
                .insert(self.userid.clone());
        }
        Ok(())
    }
}

/// The username claim's value.
fn username(realm: &RealmConfig, claims: &Map<String, Value>) -> Result<String, String> {
    let attr = realm.option("username-claim").unwrap_or("sub");
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(v) = claims.get(attr) {
        return text(v).ok_or_else(|| format!("claim '{attr}' is not a string"));
    }
    let fallback = match attr {
        "subject" => "sub",
        "username" => "preferred_username",
        _ => {
            return Err(format!(
                "missing configured claim '{attr}' in returned info object"
            ));
        }
    };
    claims
        .get(fallback)
        .and_then(text)
        .ok_or_else(|| format!("missing claim '{fallback}'"))
}

fn profile(claims: &Map<String, Value>) -> Profile {
    // A value user.cfg cannot hold on one line (`:`, control characters) is left out.
    let field = |key: &str| {
        claims
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.contains(':') && !s.chars().any(char::is_control) && s.len() <= 256)
            .map(str::to_owned)
    };
    Profile {
        email: field("email"),
        firstname: field("given_name"),
        lastname: field("family_name"),
    }
}

/// The groups the claim names, as `<group>-<realm>` ids; `None` when the realm has no groups
/// claim, or the claim is missing or not a list (Proxmox logs and leaves groups alone).
fn groups(realm: &RealmConfig, claims: &Map<String, Value>) -> Option<BTreeSet<GroupId>> {
    let claim = realm.option("groups-claim")?;
    let Some(Value::Array(list)) = claims.get(claim) else {
        tracing::warn!(
            claim,
            "openid groups claim is missing or not a list; groups not updated"
        );
        return None;
    };
    let mut out = BTreeSet::new();
    for item in list {
        let parsed = item.as_str().and_then(|g| {
            g.parse::<GroupId>().ok()?;
            format!("{g}-{}", realm.realm).parse::<GroupId>().ok()
        });
        match parsed {
            Some(id) => {
                out.insert(id);
            }
            None => tracing::warn!(group = %item, "openid group contains invalid characters"),
        }
    }
    Some(out)
}
