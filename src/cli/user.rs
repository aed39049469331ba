//! `user add|modify|delete|list|permissions` (API `/access/users`, `/access/permissions`);
//! `user token ...` lives in [`super::token`].

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::output::{Column, col};
use super::value::{is_email, parse_bool, parse_id, reject, split_list};
use super::{Ctx, passwd, permissions, token};
use crate::config::state_dir::read_optional;
use crate::config::user_cfg::User;
use crate::config::{StateError, UserConfig};
use crate::identity::{GroupId, Userid};

/// `aclgate user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a new user.
    Add(AddArgs),
    /// Update user configuration.
    Modify(ModifyArgs),
    /// Delete a user (with its tokens, group memberships and ACL entries).
    Delete(DeleteArgs),
    /// List users.
    List(ListArgs),
    /// Effective permissions of a user or token.
    Permissions(permissions::UserPermArgs),
    /// Revoke every ticket of a user issued up to now.
    Logout(super::user_logout::LogoutArgs),
    /// Manage two-factor authentication entries.
    Tfa {
        #[command(subcommand)]
        command: super::tfa::TfaCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

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

/// `user add USERID`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// User ID (name@realm).
    pub userid: String,
    #[command(flatten)]
    pub fields: UserFields,
    /// Initial password (`pve`-type realms only: stored hashed in priv/shadow.cfg).
    #[arg(long)]
    pub password: Option<String>,
}

/// `user modify USERID`.
#[derive(Debug, Clone, Args)]
pub struct ModifyArgs {
    /// User ID (name@realm).
    pub userid: String,
    #[command(flatten)]
    pub fields: UserFields,
    /// Add the groups to the user's groups instead of replacing them.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1", requires = "groups")]
    pub append: Option<bool>,
}

/// `user delete USERID`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// User ID (name@realm).
    pub userid: String,
}

/// `user list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only enabled (1) or only disabled (0) users.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub enabled: Option<bool>,
    /// Include group and token information.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub full: Option<bool>,
}

/// Run a `user` subcommand.
pub fn run(command: UserCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        UserCommand::Add(args) => add(args, ctx),
        UserCommand::Modify(args) => modify(args, ctx),
        UserCommand::Delete(args) => delete(args, ctx),
        UserCommand::List(args) => list(args, ctx),
        UserCommand::Permissions(args) => permissions::user(args, ctx),
        UserCommand::Logout(args) => super::user_logout::run(args, ctx),
        UserCommand::Tfa { command } => super::tfa::run(command, ctx),
        UserCommand::Token { command } => token::run(command, ctx),
    }
}

/// `user add` (POST /access/users).
pub fn add(args: AddArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    if userid.as_str().contains([',', ';']) {
        // Lists in user.cfg split on these, so such a user could never be a member of anything.
        return Err(reject(format!(
            "invalid user id `{userid}`: `,` and `;` cannot be listed in user.cfg"
        )));
    }
    let fields = args.fields;
    check_fields(&fields)?;
    let Some(password) = args.password else {
        return ctx
            .state
            .modify(|cfg, _| insert_user(cfg, &userid, &fields));
    };
    // Check and hash before taking the lock; then user and hash are written under one lock.
    let (domains, _) = ctx.state.load_domains()?;
    passwd::check_realm_stores_passwords(&domains, &userid)?;
    crate::auth::realm::crypt::check_new_password(&password).map_err(|e| reject(e.to_string()))?;
    let hash =
        crate::auth::realm::crypt::hash_password(&password).map_err(|e| reject(e.to_string()))?;
    ctx.state.modify_realms(|edit| {
        passwd::check_realm_stores_passwords(&edit.domains, &userid)?;
        insert_user(&mut edit.users, &userid, &fields)?;
        edit.shadow.set(userid.name(), hash);
        Ok(())
    })
}

/// Add a new user with `fields` to `cfg` (and to the groups named in `fields`).
fn insert_user(
    cfg: &mut UserConfig,
    userid: &Userid,
    fields: &UserFields,
) -> Result<(), StateError> {
    {
        if cfg.users.contains_key(userid) {
            return Err(reject(format!("user `{userid}` already exists")));
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

/// `user modify` (PUT /access/users/{userid}).
pub fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let fields = args.fields;
    check_fields(&fields)?;
    ctx.state.modify(|cfg, _| {
        if !cfg.users.contains_key(&userid) {
            return Err(no_such_user(&userid));
        }
        let groups = existing_groups(cfg, fields.groups.as_deref())?;
        if fields.groups.is_some() && args.append != Some(true) {
            for g in cfg.groups.values_mut() {
                g.members.remove(&userid);
            }
        }
        for group in groups {
            if let Some(g) = cfg.groups.get_mut(&group) {
                g.members.insert(userid.clone());
            }
        }
        if let Some(user) = cfg.users.get_mut(&userid) {
            apply_fields(user, &fields);
        }
        Ok(())
    })
}

/// `user delete` (DELETE /access/users/{userid}): also removes its tokens and their secrets,
/// its group memberships, its ACL entries and those of its tokens, and its `pve` password.
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    if userid.is_root() {
        return Err(reject("refusing to delete `root@pam`"));
    }
    ctx.state.modify(|cfg, tokens| {
        let Some(user) = cfg.users.remove(&userid) else {
            return Err(no_such_user(&userid));
        };
        let token_ids: Vec<_> = user
            .tokens
            .keys()
            .map(|name| crate::identity::Tokenid::new(&userid, name))
            .collect();
        for id in &token_ids {
            tokens.remove(id);
        }
        for group in cfg.groups.values_mut() {
            group.members.remove(&userid);
        }
        for node in cfg.acl.values_mut() {
            node.users.remove(&userid);
            for id in &token_ids {
                node.tokens.remove(id);
            }
        }
        cfg.acl.retain(|_, node| !node.is_empty());
        if userid.realm() == "pve" {
            remove_password(ctx, userid.name())?;
        }
        Ok(())
    })
}

/// `user list` (GET /access/users).
pub fn list(args: ListArgs, ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let realms = realm_types(ctx)?;
    let full = args.full == Some(true);
    let items = cfg
        .users
        .iter()
        .filter(|(_, u)| args.enabled.is_none_or(|want| u.enable == want))
        .map(|(id, u)| user_item(&cfg, id, u, &realms, full))
        .collect();
    ctx.out.list(items, USER_COLUMNS);
    Ok(())
}

fn user_item(
    cfg: &UserConfig,
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
            .map(|(name, t)| token::token_item(name.as_str(), t))
            .collect();
        item["tokens"] = json!(tokens);
    }
    item
}

/// Realm → type from `domains.cfg`; `pam` and `pve` always exist.
fn realm_types(ctx: &Ctx) -> Result<Vec<(String, String)>, StateError> {
    let text = read_optional(&ctx.state.domains_cfg_path())?.unwrap_or_default();
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

fn check_fields(fields: &UserFields) -> Result<(), StateError> {
    if let Some(email) = &fields.email
        && !is_email(email)
    {
        return Err(reject(format!("invalid email address `{email}`")));
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
        return Err(reject("invalid keys: `:` is not allowed"));
    }
    Ok(())
}

fn apply_fields(user: &mut User, fields: &UserFields) {
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
fn existing_groups(cfg: &UserConfig, list: Option<&str>) -> Result<Vec<GroupId>, StateError> {
    let mut out = Vec::new();
    for name in list.map(split_list).into_iter().flatten() {
        let id: GroupId = parse_id(name)?;
        if !cfg.groups.contains_key(&id) {
            return Err(reject(format!("no such group `{name}`")));
        }
        out.push(id);
    }
    Ok(out)
}

/// Drop the `pve` realm password line of `name` from `priv/shadow.cfg` (lock is held).
fn remove_password(ctx: &Ctx, name: &str) -> Result<(), StateError> {
    let path = ctx.state.shadow_cfg_path();
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let prefix = format!("{name}:");
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    if kept != text {
        ctx.state.write_secret(&path, kept.as_bytes())?;
    }
    Ok(())
}

/// The error for an unknown user, in Proxmox's words.
pub fn no_such_user(userid: &Userid) -> StateError {
    reject(format!("user `{userid}` does not exist"))
}

/// `user list` columns: required first, then optional, each sorted (CLIFormatter's order).
const USER_COLUMNS: &[Column] = &[
    col("userid", false),
    col("comment", false),
    col("email", false),
    col("enable", true),
    col("expire", false),
    col("firstname", false),
    col("groups", false),
    col("keys", false),
    col("lastname", false),
    col("realm-type", false),
    col("tfa-locked-until", false),
    col("tokens", false),
    col("totp-locked", true),
];
