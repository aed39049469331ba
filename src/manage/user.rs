//! Users (`/access/users`, `pveum user`): field checks, create, update, delete, list items.

use clap::Args;
use serde_json::{Value, json};

use super::value::{is_email, parse_bool, parse_id, reject, split_list};
use crate::auth::tfa::{TfaError, TfaStore};
use crate::config::state_dir::read_lines;
use crate::config::user_cfg::AclEntries;
use crate::config::user_cfg::User;
use crate::config::{StateDir, StateError, TokenShadow, UserConfig};
use crate::identity::{GroupId, Userid};

/// The user fields settable on `add` and `modify`.
#[derive(Debug, Clone, Args)]
pub struct UserFields {
    /// Enable the account (default 1).
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub enable: Option<bool>,
    /// Account expiration date (seconds since epoch); 0 = never.
    #[arg(long)]
    pub expire: Option<u64>,
    #[arg(long)]
    pub firstname: Option<String>,
    #[arg(long)]
    pub lastname: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub comment: Option<String>,
    /// Keys for two-factor auth (yubico).
    #[arg(long)]
    pub keys: Option<String>,
    /// Groups (list).
    #[arg(long)]
    pub groups: Option<String>,
}

/// Update `userid` with `fields`; `groups` replaces the memberships unless `append`.
pub fn update_user<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    userid: &Userid,
    fields: &UserFields,
    append: bool,
) -> Result<(), StateError> {
    if !cfg.users.contains_key(userid) {
        return Err(no_such_user(userid));
    }
    let groups = existing_groups(cfg, fields.groups.as_deref())?;
    if fields.groups.is_some() && !append {
        for g in cfg.groups.values_mut() {
            g.members.remove(userid);
        }
    }
    for group in groups {
        if let Some(g) = cfg.groups.get_mut(&group) {
            g.members.insert(userid.clone());
        }
    }
    if let Some(user) = cfg.users.get_mut(userid) {
        apply_fields(user, fields);
    }
    Ok(())
}

/// Remove `userid` with its tokens and their secrets, its group memberships and the ACL entries
/// of the user and its tokens. `root@pam` is refused. The caller removes a `pve` password; the
/// tokens' options (`token-options.cfg`) go with the write ([`StateDir::modify`] drops the
/// options of every token that no longer exists).
pub fn delete_user<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    tokens: &mut TokenShadow,
    userid: &Userid,
) -> Result<(), StateError> {
    if userid.is_root() {
        return Err(reject("refusing to delete 'root@pam'"));
    }
    let token_ids = cfg
        .remove_user(userid)
        .ok_or_else(|| no_such_user(userid))?;
    for id in &token_ids {
        tokens.remove(id);
    }
    cfg.remove_user_acl(userid);
    Ok(())
}

/// A user id that can be listed in user.cfg (`,` and `;` split lists there, and NUL too: a list
/// holding a NUL is split on NUL alone, so its members would come back split at `,` and `;`).
pub fn check_new_userid(userid: &Userid) -> Result<(), StateError> {
    if userid.as_str().contains([',', ';', '\0']) {
        return Err(reject(format!(
            "invalid user id '{}': ',', ';' and NUL cannot be listed in user.cfg",
            userid.as_str().escape_debug()
        )));
    }
    Ok(())
}

/// Add a new user with `fields` to `cfg` (and to the groups named in `fields`).
pub fn insert_user<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    userid: &Userid,
    fields: &UserFields,
) -> Result<(), StateError> {
    {
        if cfg.users.contains_key(userid) {
            return Err(reject(format!("user '{userid}' already exists")));
        }
        let groups = existing_groups(cfg, fields.groups.as_deref())?;
        let mut user = User::new();
        apply_fields(&mut user, fields);
        cfg.users.insert(userid.clone(), user);
        for group in groups {
            if let Some(g) = cfg.groups.get_mut(&group) {
                g.members.insert(userid.clone());
            }
        }
        Ok(())
    }
}

/// A user as `GET /access/users` lists it (`full`: with `groups` and `tokens`).
pub fn user_item<A>(
    cfg: &UserConfig<A>,
    id: &Userid,
    user: &User,
    realms: &[(String, String)],
    full: bool,
) -> Value {
    let mut item = json!({
        "userid": id.as_str(),
        "enable": u8::from(user.enable),
        "expire": user.expire,
    });
    for (key, text) in [
        ("firstname", &user.firstname),
        ("lastname", &user.lastname),
        ("email", &user.email),
        ("comment", &user.comment),
        ("keys", &user.keys),
    ] {
        if !text.is_empty() {
            item[key] = json!(text);
        }
    }
    if let Some((_, ty)) = realms.iter().find(|(r, _)| r == id.realm()) {
        item["realm-type"] = json!(ty);
    }
    if full {
        let groups: Vec<&str> = cfg
            .groups
            .iter()
            .filter(|(_, g)| g.members.contains(id))
            .map(|(gid, _)| gid.as_str())
            .collect();
        item["groups"] = json!(groups.join(","));
        let tokens: Vec<Value> = user
            .tokens
            .iter()
            .map(|(name, t)| super::token::token_item(name.as_str(), t))
            .collect();
        // Proxmox leaves `tokens` undefined (null) for a user without tokens.
        item["tokens"] = if tokens.is_empty() {
            Value::Null
        } else {
            json!(tokens)
        };
    }
    item
}

/// Realm → type from `domains.cfg`; `pam` and `pve` always exist.
pub fn realm_types(state: &StateDir) -> Result<Vec<(String, String)>, StateError> {
    let text = read_lines(&state.domains_cfg_path())?.unwrap_or_default();
    let mut out = vec![
        ("pam".to_owned(), "pam".to_owned()),
        ("pve".to_owned(), "pve".to_owned()),
    ];
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) || line.starts_with('#') {
            continue;
        }
        if let Some((ty, realm)) = line.split_once(':') {
            let (ty, realm) = (ty.trim().to_ascii_lowercase(), realm.trim());
            if !realm.is_empty() && !out.iter().any(|(r, _)| r == realm) {
                out.push((realm.to_owned(), ty));
            }
        }
    }
    Ok(out)
}

/// Proxmox's format checks of the user fields (email, no line breaks, keys without `:`).
pub fn check_fields(fields: &UserFields) -> Result<(), StateError> {
    if let Some(email) = &fields.email
        && !is_email(email)
    {
        return Err(reject(format!("invalid email address '{email}'")));
    }
    for text in [
        &fields.firstname,
        &fields.lastname,
        &fields.comment,
        &fields.keys,
    ]
    .into_iter()
    .flatten()
    {
        if text.contains('\n') {
            return Err(reject("values may not contain line breaks"));
        }
    }
    if fields.keys.as_deref().is_some_and(|k| k.contains(':')) {
        return Err(reject("invalid keys: ':' is not allowed"));
    }
    Ok(())
}

/// Copy the given fields onto `user`.
pub fn apply_fields(user: &mut User, fields: &UserFields) {
    if let Some(enable) = fields.enable {
        user.enable = enable;
    }
    if let Some(expire) = fields.expire {
        user.expire = expire;
    }
    let set = |slot: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            v.clone_into(slot);
        }
    };
    set(&mut user.firstname, &fields.firstname);
    set(&mut user.lastname, &fields.lastname);
    set(&mut user.email, &fields.email);
    set(&mut user.comment, &fields.comment);
    set(&mut user.keys, &fields.keys);
}

/// The groups named in a `--groups` list; every one must exist.
pub fn existing_groups<A>(
    cfg: &UserConfig<A>,
    list: Option<&str>,
) -> Result<Vec<GroupId>, StateError> {
    let mut out = Vec::new();
    for name in list.map(split_list).into_iter().flatten() {
        let id: GroupId = parse_id(name)?;
        if !cfg.groups.contains_key(&id) {
            return Err(reject(format!("no such group '{name}'")));
        }
        out.push(id);
    }
    Ok(out)
}

/// Remove what a deleted user leaves outside user.cfg, as Proxmox does: the `pve` realm
/// password and the second factors in `priv/tfa.cfg`. The caller holds the state lock.
pub fn remove_user_secrets(state: &StateDir, userid: &Userid) -> Result<(), StateError> {
    if userid.realm() == "pve" {
        remove_password(state, userid.name())?;
    }
    let tfa_error = |e: TfaError| match e {
        TfaError::State(e) => e,
        other => StateError::Rejected(format!("tfa.cfg: {other}")),
    };
    let mut store = TfaStore::load(state).map_err(tfa_error)?;
    if store.remove_user(userid) {
        store.save(state).map_err(tfa_error)?;
    }
    Ok(())
}

/// Drop the `pve` realm password line of `name` from `priv/shadow.cfg` (lock is held).
pub fn remove_password(state: &StateDir, name: &str) -> Result<(), StateError> {
    let path = state.shadow_cfg_path();
    let Some(text) = read_lines(&path)? else {
        return Ok(());
    };
    let prefix = format!("{name}:");
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    if kept != text {
        state.write_secret(&path, kept.as_bytes())?;
    }
    Ok(())
}

/// The error for an unknown user, in Proxmox's words.
pub fn no_such_user(userid: &Userid) -> StateError {
    reject(format!("user '{userid}' does not exist"))
}
