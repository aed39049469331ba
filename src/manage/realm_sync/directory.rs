//! What a realm sync asks the directory, and what the answers mean (`PVE::Auth::LDAP`
//! `get_users` / `get_groups`, `PVE::LDAP::query_users` / `query_groups`). Pure: the searches
//! themselves run in [`crate::auth::realm::ldap_sync`].
//!
//! Users: entries of `user_classes` (default `inetorgperson, posixaccount, person, user`) that
//! have at least one mapped attribute, narrowed by `filter`. The userid is
//! `<first user_attr value>@<realm>`, spelled exactly as the directory spells it (also in
//! `case-sensitive 0` realms: that option only affects the login lookup). User fields
//! come from the attributes of the same name (`firstname`, `lastname`, `email`, `comment`,
//! `keys`, `expire`, `enable`) or from `sync_attributes` (`email=mail,firstname=givenName`);
//! a value Proxmox's user schema would refuse is skipped with a warning, and password
//! attributes (`userPassword`, `unicodePwd`, ...) are never mapped.
//!
//! Groups: entries of `group_classes` (default `groupOfNames, group, univentionGroup,
//! ipausergroup`) under `group_dn` (else the base DN), narrowed by `group_filter`, named
//! `<group_name_attr value, else the first RDN value>-<realm>`; members are the `member` DNs
//! (else `uniqueMember`) that are DNs of synced users (compared case-insensitively).
//! `posixGroup`/`memberUid` is not read, as in Proxmox.

use std::collections::{BTreeMap, BTreeSet};

use super::SyncError;
use super::options::Scope;
use crate::auth::realm::ldap_sync::{DirectoryEntry, DirectoryQuery};
use crate::config::{RealmConfig, RealmType};
use crate::identity::{GroupId, Realm, Userid};
use crate::manage::value::{is_email, split_list};

/// The searches for one realm and how to read their entries.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The user search.
    pub users: DirectoryQuery,
    /// The group search (scope groups or both).
    pub groups: Option<DirectoryQuery>,
    /// Lower-cased attribute holding the user name.
    user_attr: String,
    /// Lower-cased attribute → field, explicit `sync_attributes` mappings first.
    fields: Vec<(String, Target)>,
    /// Lower-cased attribute holding a group's name.
    group_name_attr: Option<String>,
    /// Bad `sync_attributes` items that were skipped.
    pub warnings: Vec<String>,
}

/// What the directory says, read with a [`Plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Users by userid, with the fields the directory set.
    pub users: BTreeMap<Userid, SyncedUser>,
    /// Groups (`<name>-<realm>`) and their members.
    pub groups: BTreeMap<GroupId, BTreeSet<Userid>>,
    /// Entries and values that were skipped.
    pub warnings: Vec<String>,
}

/// The user fields one directory entry sets (`None` = attribute absent or skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncedUser {
    pub enable: Option<bool>,
    pub expire: Option<u64>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub comment: Option<String>,
    pub keys: Option<String>,
}

/// Where a directory attribute goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `username` (the name comes from `user_attr`; a mapping to it only widens the search).
    Username,
    Field(Field),
}

/// A user field the directory can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Enable,
    Expire,
    Firstname,
    Lastname,
    Email,
    Comment,
    Keys,
}

const FIELDS: [(&str, Field); 7] = [
    ("enable", Field::Enable),
    ("expire", Field::Expire),
    ("firstname", Field::Firstname),
    ("lastname", Field::Lastname),
    ("email", Field::Email),
    ("comment", Field::Comment),
    ("keys", Field::Keys),
];

/// Attributes holding passwords or keys (lower-cased), never copied into user.cfg.
const SECRET_ATTRS: &[&str] = &[
    "userpassword",
    "unicodepwd",
    "sambantpassword",
    "sambalmpassword",
    "krbprincipalkey",
    "authpassword",
];

const DEFAULT_USER_CLASSES: &str = "inetorgperson, posixaccount, person, user";
const DEFAULT_GROUP_CLASSES: &str = "groupOfNames, group, univentionGroup, ipausergroup";

/// The searches for `realm` (an ldap or ad realm).
pub fn plan(realm: &RealmConfig, scope: Scope) -> Result<Plan, SyncError> {
    let default_attr = if realm.kind == RealmType::Ad {
        "sAMAccountName"
    } else {
        "uid"
    };
    let user_attr = realm.option("user_attr").unwrap_or(default_attr);
    if !is_attr_name(user_attr) {
        return Err(SyncError::Config(format!(
            "'user_attr' '{user_attr}' is not an attribute name"
        )));
    }
    let user_attr = user_attr.to_ascii_lowercase();
    let mut warnings = Vec::new();
    // Proxmox builds one attribute → target map: the defaults, then sync_attributes, later
    // assignments replacing earlier ones.
    let mut assigned: Vec<(String, Target, bool)> =
        vec![(user_attr.clone(), Target::Username, false)];
    let mut assign = |attr: String, target: Target, explicit: bool| {
        assigned.retain(|(a, _, _)| *a != attr);
        assigned.push((attr, target, explicit));
    };
    for (name, field) in FIELDS {
        assign(name.to_owned(), Target::Field(field), false);
    }
    for item in split_list(realm.option("sync_attributes").unwrap_or("")) {
        let Some((ours, theirs)) = item.split_once('=') else {
            warnings.push(format!("skipping bad 'sync_attributes' entry '{item}'"));
            continue;
        };
        let target = match ours {
            "username" => Target::Username,
            _ => match FIELDS.iter().find(|(name, _)| *name == ours) {
                Some((_, field)) => Target::Field(*field),
                None => {
                    warnings.push(format!(
                        "skipping bad 'sync_attributes' entry: '{ours}' is not a valid target attribute"
                    ));
                    continue;
                }
            },
        };
        if !is_attr_name(theirs) {
            warnings.push(format!(
                "skipping bad 'sync_attributes' entry: '{theirs}' is not an attribute name"
            ));
            continue;
        }
        // Fail closed: a password attribute is never copied into user.cfg, whatever the
        // mapping says (Proxmox would copy it).
        if SECRET_ATTRS.contains(&theirs.to_ascii_lowercase().as_str()) {
            warnings.push(format!(
                "skipping 'sync_attributes' entry: '{theirs}' holds passwords"
            ));
            continue;
        }
        assign(theirs.to_ascii_lowercase(), target, true);
    }
    // Explicit mappings are read first, so they win over a same-named attribute.
    assigned.sort_by_key(|(_, _, explicit)| !explicit);
    let mut attrs: Vec<String> = assigned.iter().map(|(a, _, _)| a.clone()).collect();
    attrs.sort();
    let users = DirectoryQuery {
        base: None,
        filter: search_filter(
            &attrs.iter().map(|a| format!("({a}=*)")).collect::<String>(),
            &classes(realm, "user_classes", DEFAULT_USER_CLASSES)?,
            realm.option("filter"),
        ),
        attrs,
    };
    let group_name_attr = realm.option("group_name_attr").map(str::to_ascii_lowercase);
    let groups = scope.groups().then(|| {
        let mut attrs = vec!["member".to_owned(), "uniquemember".to_owned()];
        attrs.extend(group_name_attr.clone());
        Ok::<_, SyncError>(DirectoryQuery {
            base: realm.option("group_dn").map(str::to_owned),
            filter: search_filter(
                "",
                &classes(realm, "group_classes", DEFAULT_GROUP_CLASSES)?,
                realm.option("group_filter"),
            ),
            attrs,
        })
    });
    Ok(Plan {
        users,
        groups: groups.transpose()?,
        user_attr,
        fields: assigned.into_iter().map(|(a, t, _)| (a, t)).collect(),
        group_name_attr,
        warnings,
    })
}

/// Read the entries the plan's searches returned.
pub fn interpret(
    plan: &Plan,
    realm: &Realm,
    user_entries: &[DirectoryEntry],
    group_entries: &[DirectoryEntry],
) -> Synced {
    let mut out = Synced {
        warnings: plan.warnings.clone(),
        ..Synced::default()
    };
    // DN (lower-cased) → userid, for the group members.
    let mut by_dn: BTreeMap<String, Userid> = BTreeMap::new();
    for entry in user_entries {
        let Some(name) = first(entry, &plan.user_attr) else {
            out.warnings.push(format!(
                "entry '{}' has no '{}': skipped",
                entry.dn, plan.user_attr
            ));
            continue;
        };
        let userid = match Userid::from_parts(name, realm.as_str()) {
            Ok(id) if !id.as_str().contains([',', ';']) => id,
            _ => {
                out.warnings.push(format!(
                    "user name '{name}@{realm}' is not a valid userid: skipped"
                ));
                continue;
            }
        };
        let user = read_user(plan, entry, &userid, &mut out.warnings);
        if out.users.insert(userid.clone(), user).is_some() {
            out.warnings.push(format!(
                "user '{userid}' is returned more than once: the last entry wins"
            ));
        }
        by_dn.insert(entry.dn.to_lowercase(), userid);
    }
    for entry in group_entries {
        let named = plan
            .group_name_attr
            .as_deref()
            .and_then(|attr| first(entry, attr))
            .filter(|n| !n.is_empty());
        let Some(name) = named.or_else(|| first_rdn_value(&entry.dn)) else {
            out.warnings
                .push(format!("group '{}' has no name: skipped", entry.dn));
            continue;
        };
        let Ok(groupid) = format!("{name}-{realm}").parse::<GroupId>() else {
            out.warnings.push(format!(
                "group name '{name}-{realm}' is not a valid group id: skipped"
            ));
            continue;
        };
        let members: &[String] = match entry.attrs.get("member") {
            Some(m) if !m.is_empty() => m,
            _ => entry.attrs.get("uniquemember").map_or(&[], Vec::as_slice),
        };
        let members = members
            .iter()
            .filter_map(|dn| by_dn.get(&dn.to_lowercase()).cloned())
            .collect();
        if out.groups.insert(groupid.clone(), members).is_some() {
            out.warnings.push(format!(
                "group '{groupid}' is returned more than once: the last entry wins"
            ));
        }
    }
    out
}

/// The fields of one user entry; each field from the first mapped attribute with a valid value.
fn read_user(
    plan: &Plan,
    entry: &DirectoryEntry,
    userid: &Userid,
    warnings: &mut Vec<String>,
) -> SyncedUser {
    let mut user = SyncedUser::default();
    for (attr, target) in &plan.fields {
        let Target::Field(field) = *target else {
            continue;
        };
        let Some(value) = first(entry, attr) else {
            continue;
        };
        let skipped =
            |why: &str| format!("skipping attribute mapping '{attr}' for user '{userid}': {why}");
        let text = |max: usize| {
            (value.chars().count() <= max)
                .then(|| value.to_owned())
                .ok_or_else(|| skipped(&format!("longer than {max} characters")))
        };
        let result = match field {
            // Perl truth, unchecked as in Proxmox ("for backwards compat").
            Field::Enable => set(&mut user.enable, Ok(!value.is_empty() && value != "0")),
            Field::Expire => set(
                &mut user.expire,
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| skipped("not a non-negative integer")),
            ),
            Field::Firstname => set(&mut user.firstname, text(1024)),
            Field::Lastname => set(&mut user.lastname, text(1024)),
            Field::Comment => set(&mut user.comment, text(2048)),
            Field::Email => set(
                &mut user.email,
                (is_email(value) && value.len() <= 254)
                    .then(|| value.to_owned())
                    .ok_or_else(|| skipped("not an email address")),
            ),
            Field::Keys => set(
                &mut user.keys,
                (value.len() <= 4096
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'!' || b == b'='))
                .then(|| value.to_owned())
                .ok_or_else(|| skipped("not a key list")),
            ),
        };
        if let Err(why) = result {
            warnings.push(why);
        }
    }
    user
}

/// Fill `slot` unless an earlier (preferred) attribute did.
fn set<T>(slot: &mut Option<T>, value: Result<T, String>) -> Result<(), String> {
    if slot.is_none() {
        *slot = Some(value?);
    }
    Ok(())
}

fn first<'a>(entry: &'a DirectoryEntry, attr: &str) -> Option<&'a str> {
    entry.attrs.get(attr)?.first().map(String::as_str)
}

/// Proxmox's fallback group name: the value of the first RDN (`^[^=]+=([^,]+),`), trimmed.
fn first_rdn_value(dn: &str) -> Option<&str> {
    let (attr, rest) = dn.split_once('=')?;
    let (value, _) = rest.split_once(',')?;
    if attr.is_empty() || value.is_empty() {
        return None;
    }
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// `(&(|<presence>)(|(objectclass=..)..))`, wrapped with the configured filter if any.
fn search_filter(presence: &str, classes: &[&str], configured: Option<&str>) -> String {
    let class_filter: String = classes
        .iter()
        .map(|c| format!("(objectclass={c})"))
        .collect();
    let base = if presence.is_empty() {
        format!("(|{class_filter})")
    } else {
        format!("(&(|{presence})(|{class_filter}))")
    };
    match configured {
        Some(f) if f.starts_with('(') && f.ends_with(')') => format!("(&{f}{base})"),
        Some(f) => format!("(&({f}){base})"),
        None => base,
    }
}

/// The object classes of a `*_classes` option (checked to be attribute names).
fn classes<'a>(
    realm: &'a RealmConfig,
    key: &str,
    default: &'static str,
) -> Result<Vec<&'a str>, SyncError> {
    let list: Vec<&str> = split_list(realm.option(key).unwrap_or(default)).collect();
    match list.iter().find(|c| !is_attr_name(c)) {
        Some(bad) => Err(SyncError::Config(format!(
            "'{key}': '{bad}' is not an object class name"
        ))),
        None => Ok(list),
    }
}

/// An attribute (or object class) name or OID: letters, digits, `-` and `.`.
fn is_attr_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
