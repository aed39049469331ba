//! One etcd watch response as an edit of the running model ([`StoreEdit`]): the keys that
//! changed become `user.cfg` [`Change`]s, plus the token and logout files as they now are, so
//! the reload door applies them to the snapshot in place of a full rebuild (docs/etcd.md).
//!
//! The keys of `user.cfg` are its entries (src/store/user_keys.rs), so the keys that changed
//! between two revisions are exactly the entries a writer changed, and each becomes what
//! [`crate::config::UserConfig::changes_to`] would answer for it: a user's account, a token, a
//! group membership, a role's privileges, one ACL entry. Every value is read with the same
//! parser as the file. Anything else — a realm, a pool, the ticket keys, a policy, a user's
//! names, a group or role removed, a line the file's reader would warn about, more than
//! [`MAX_KEYS`] keys — answers why not, and the follower loads in full.

use std::collections::BTreeMap;

use super::objects::{self, Objects};
use super::user_keys::{acl_key, bucket};
use crate::config::UserConfig;
use crate::config::user_cfg::{AclMember, Change, Group, Token, User};
use crate::identity::{GroupId, RoleId, Tokenid, Userid};
use crate::reload::StoreEdit;
use crate::vocabulary::{AclPath, is_builtin_role};

/// More keys than this in one response (a migration, a bulk import) is a full load: applying
/// them one by one would cost more than it saves.
pub const MAX_KEYS: usize = 500;

/// Why a response is not applied as changes (logged; the follower loads in full).
pub type NotApplied = String;

/// The edit that turns the state before a response into `after` (the objects with the
/// response applied); `before` holds the previous value of every key the response touched.
pub fn edit(
    before: &BTreeMap<String, Option<Vec<u8>>>,
    after: &Objects,
) -> Result<StoreEdit, NotApplied> {
    if before.len() > MAX_KEYS {
        return Err(format!("{} keys changed at once", before.len()));
    }
    let mut out = Ordered::default();
    let (mut shadow, mut logout) = (false, false);
    for (key, old) in before {
        let new = after.get(key);
        if old.as_ref() == new {
            continue;
        }
        let (kind, id) = key.split_once('/').unwrap_or((key, ""));
        let (old, new) = (old.as_deref(), new.map(Vec::as_slice));
        match kind {
            "user" => user(id, old, new, after, &mut out)?,
            "token" => token(id, old, new, after, &mut out)?,
            "group" => group(id, old, new, after, &mut out)?,
            "role" => role(id, new, &mut out)?,
            "acl" => acl(key, id, new, after, &mut out)?,
            "token-hash" => shadow = true,
            "logout" => logout = true,
            // The options are read again every time (below).
            "token-options" => {}
            "head" if id == "priv/token.shadow" => shadow = true,
            "head" if id == "logout.cfg" => logout = true,
            "head" if id == "token-options.cfg" => {}
            _ => return Err(format!("`{kind}/…` changed")),
        }
    }
    let text = |rel: &str| -> Result<String, NotApplied> {
        let bytes = objects::split_text(after, rel).unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| format!("{rel} is not UTF-8"))
    };
    Ok(StoreEdit {
        changes: out.into_changes(),
        token_shadow: shadow.then(|| text("priv/token.shadow")).transpose()?,
        token_options: text("token-options.cfg")?,
        logout: logout.then(|| text("logout.cfg")).transpose()?,
    })
}

/// Changes by kind, in the order [`crate::config::UserConfig::changes_to`] answers them: roles
/// and accounts before the entries naming them, removals last.
#[derive(Default)]
struct Ordered {
    roles: Vec<Change>,
    users: Vec<Change>,
    tokens: Vec<Change>,
    groups: Vec<Change>,
    acl: Vec<Change>,
    token_removals: Vec<Change>,
    user_removals: Vec<Change>,
}

impl Ordered {
    fn into_changes(self) -> Vec<Change> {
        [
            self.roles,
            self.users,
            self.tokens,
            self.groups,
            self.acl,
            self.token_removals,
            self.user_removals,
        ]
        .concat()
    }
}

fn user(
    id: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    after: &Objects,
    out: &mut Ordered,
) -> Result<(), NotApplied> {
    let userid: Userid = id.parse().map_err(|_| format!("user key `{id}`"))?;
    if userid.is_root() {
        return Err("root@pam's line changed".to_owned());
    }
    let before = old.map(|v| read_user(&userid, v)).transpose()?;
    let Some(new) = new else {
        // Removed: the writer took it out of its groups and dropped its tokens and entries
        // in the same transaction; if anything still names it, a full load decides.
        let tokens = format!("token/{id}!");
        let named = group_lines(after)
            .any(|g| read_group_members(g).is_none_or(|m| m.contains(&userid)))
            || has_prefix(after, &tokens)
            || has_prefix(after, &member_prefix(id));
        if named {
            return Err(format!("user `{id}` removed but still named"));
        }
        out.user_removals.push(Change::UserRemove(userid));
        return Ok(());
    };
    let user = read_user(&userid, new)?;
    let fresh = User::new();
    if !same_details(before.as_ref().unwrap_or(&fresh), &user) {
        return Err(format!(
            "user `{id}`: names, e-mail, comment or keys changed"
        ));
    }
    if before
        .as_ref()
        .is_none_or(|b| b.enable != user.enable || b.expire != user.expire)
    {
        out.users.push(Change::UserSet {
            id: userid,
            enable: user.enable,
            expire: user.expire,
        });
    }
    Ok(())
}

fn token(
    id: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    after: &Objects,
    out: &mut Ordered,
) -> Result<(), NotApplied> {
    let tokenid: Tokenid = id.parse().map_err(|_| format!("token key `{id}`"))?;
    let before = old.map(|v| read_token(&tokenid, v)).transpose()?;
    let Some(new) = new else {
        if has_prefix(after, &member_prefix(id)) {
            return Err(format!("token `{id}` removed but still named"));
        }
        out.token_removals.push(Change::TokenRemove(tokenid));
        return Ok(());
    };
    let owner = format!("user/{}", tokenid.user());
    if !after.contains_key(&owner) {
        return Err(format!("token `{id}` without its user"));
    }
    let token = read_token(&tokenid, new)?;
    // A new token starts without a comment; a comment is not a `Change`.
    let comment = before.as_ref().map_or("", |t| t.comment.as_str());
    if token.comment != comment {
        return Err(format!("token `{id}`: comment changed"));
    }
    if before
        .as_ref()
        .is_none_or(|b| b.expire != token.expire || b.privsep != token.privsep)
    {
        out.tokens.push(Change::TokenSet {
            id: tokenid,
            expire: token.expire,
            privsep: token.privsep,
        });
    }
    Ok(())
}

fn group(
    id: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    after: &Objects,
    out: &mut Ordered,
) -> Result<(), NotApplied> {
    let groupid: GroupId = id.parse().map_err(|_| format!("group key `{id}`"))?;
    let (Some(new), before) = (new, old.map(read_group).transpose()?) else {
        return Err(format!("group `{id}` removed"));
    };
    let group = read_group(new)?;
    let empty = Group::default();
    // A group comes into being with its first member and without a comment.
    let created_bare = before.is_none() && group.members.is_empty();
    if created_bare || before.as_ref().unwrap_or(&empty).comment != group.comment {
        return Err(format!("group `{id}`: created empty or comment changed"));
    }
    // A member that is not a user is kept with a warning by a full load: let it say so.
    if let Some(u) = group
        .members
        .iter()
        .find(|u| !after.contains_key(&format!("user/{u}")))
    {
        return Err(format!("group `{id}`: member `{u}` is not a user"));
    }
    let before = before.unwrap_or_default();
    for (members, other, member) in [
        (&group.members, &before.members, true),
        (&before.members, &group.members, false),
    ] {
        for user in members.difference(other) {
            out.groups.push(Change::GroupMember {
                group: groupid.clone(),
                user: user.clone(),
                member,
            });
        }
    }
    Ok(())
}

fn role(id: &str, new: Option<&[u8]>, out: &mut Ordered) -> Result<(), NotApplied> {
    let (Some(new), Ok(roleid)) = (new, id.parse::<RoleId>()) else {
        return Err(format!("role `{id}` removed"));
    };
    if is_builtin_role(id) {
        return Err(format!("built-in role `{id}` in etcd"));
    }
    let (cfg, warnings) = parse(new)?;
    let privs = cfg.roles.get(&roleid).filter(|_| warnings.is_empty());
    let privs = privs.ok_or_else(|| format!("role `{id}`: not a clean line"))?;
    out.roles.push(Change::RoleSet {
        id: roleid,
        privs: *privs,
    });
    Ok(())
}

/// One ACL entry set or deleted: read as the file's reader reads its line, with the member
/// and role defined in front of it (whether they really are is checked against `after`).
fn acl(
    key: &str,
    id: &str,
    new: Option<&[u8]>,
    after: &Objects,
    out: &mut Ordered,
) -> Result<(), NotApplied> {
    let bad = || format!("acl key `{key}`");
    // <bucket>/<member>/<role><path>
    let (_, rest) = id.split_once('/').ok_or_else(bad)?;
    let (member, rest) = rest.split_once('/').ok_or_else(bad)?;
    let slash = rest.find('/').ok_or_else(bad)?;
    let (role, path) = rest.split_at(slash);
    let line = match new {
        Some(v) => std::str::from_utf8(v).map_err(|_| bad())?.to_owned(),
        None => format!("acl:0:{path}:{member}:{role}:\n"),
    };
    let mut context = String::new();
    let defined = if let Some(group) = member.strip_prefix('@') {
        context.push_str(&format!("group:{group}:::\n"));
        format!("group/{group}")
    } else if let Some((owner, _)) = member.split_once('!') {
        context.push_str(&format!("user:{owner}:1:0::::::\ntoken:{member}:0:1::\n"));
        format!("token/{member}")
    } else {
        context.push_str(&format!("user:{member}:1:0::::::\n"));
        format!("user/{member}")
    };
    if !is_builtin_role(role) {
        context.push_str(&format!("role:{role}::\n"));
    }
    context.push_str(&line);
    let (cfg, warnings) = UserConfig::parse(&context);
    let entry = single_entry(&cfg).filter(|_| warnings.is_empty());
    let (path, member_id, role_id, propagate) = entry.ok_or_else(bad)?;
    if acl_key(member, role, path.as_str()) != key {
        return Err(format!("acl key `{key}` does not match its entry"));
    }
    if new.is_some() {
        // Set: a full load keeps an unknown user or group with a warning and skips an unknown
        // token or role; the changes would not.
        let role_defined = is_builtin_role(role) || after.contains_key(&format!("role/{role}"));
        if !role_defined || !after.contains_key(&defined) {
            return Err(format!("acl entry `{key}` names what does not exist"));
        }
    }
    out.acl.push(Change::Acl {
        path,
        member: member_id,
        role: role_id,
        propagate: new.map(|_| propagate),
    });
    Ok(())
}

/// The one ACL entry of `cfg`.
fn single_entry(cfg: &UserConfig) -> Option<(AclPath, AclMember, RoleId, bool)> {
    let mut found = None;
    for (path, node) in &cfg.acl {
        let members = node
            .users
            .iter()
            .map(|(u, r)| (AclMember::User(u.clone()), r))
            .chain(
                node.groups
                    .iter()
                    .map(|(g, r)| (AclMember::Group(g.clone()), r)),
            )
            .chain(
                node.tokens
                    .iter()
                    .map(|(t, r)| (AclMember::Token(t.clone()), r)),
            );
        for (member, roles) in members {
            for (role, propagate) in roles {
                if found.is_some() {
                    return None;
                }
                found = Some((path.clone(), member.clone(), role.clone(), *propagate));
            }
        }
    }
    found
}

fn parse(value: &[u8]) -> Result<(UserConfig, Vec<crate::config::user_cfg::Warning>), NotApplied> {
    let text = std::str::from_utf8(value).map_err(|_| "a value that is not UTF-8".to_owned())?;
    Ok(UserConfig::parse(text))
}

fn read_user(id: &Userid, value: &[u8]) -> Result<User, NotApplied> {
    let (mut cfg, warnings) = parse(value)?;
    let user = cfg.users.remove(id).filter(|_| warnings.is_empty());
    user.ok_or_else(|| format!("user `{id}`: not a clean line"))
}

fn read_token(id: &Tokenid, value: &[u8]) -> Result<Token, NotApplied> {
    let mut text = format!("user:{}:1:0::::::\n", id.user()).into_bytes();
    text.extend_from_slice(value);
    let (cfg, warnings) = parse(&text)?;
    let token = cfg.token(id).filter(|_| warnings.is_empty()).cloned();
    token.ok_or_else(|| format!("token `{id}`: not a clean line"))
}

/// A group line; its members need not be defined here (checked against the state instead).
fn read_group(value: &[u8]) -> Result<Group, NotApplied> {
    let (cfg, warnings) = parse(value)?;
    let only_undefined = warnings
        .iter()
        .all(|w| w.message.ends_with("is not a defined user"));
    let mut groups = cfg.groups.into_values();
    match (groups.next(), groups.next(), only_undefined) {
        (Some(g), None, true) => Ok(g),
        _ => Err("a group line that is not clean".to_owned()),
    }
}

fn read_group_members(value: &[u8]) -> Option<std::collections::BTreeSet<Userid>> {
    read_group(value).ok().map(|g| g.members)
}

fn group_lines(objects: &Objects) -> impl Iterator<Item = &[u8]> {
    objects
        .range("group/".to_owned()..)
        .take_while(|(k, _)| k.starts_with("group/"))
        .map(|(_, v)| v.as_slice())
}

/// The key prefix of one member's ACL entries.
fn member_prefix(member: &str) -> String {
    format!("acl/{}/{member}/", bucket(member))
}

fn has_prefix(objects: &Objects, prefix: &str) -> bool {
    objects
        .range(prefix.to_owned()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(prefix))
}

/// The fields a [`Change`] does not carry.
fn same_details(a: &User, b: &User) -> bool {
    a.firstname == b.firstname
        && a.lastname == b.lastname
        && a.email == b.email
        && a.comment == b.comment
        && a.keys == b.keys
}
