//! Proxmox's lenient `user.cfg` reader (spec §2.1, `PVE::AccessControl::parse_user_config`).
//!
//! One pass, top to bottom; every line Proxmox would skip (or partly drop) becomes a [`Warning`]
//! with its line number, so `check-config` can show it. Line order matters exactly as in Proxmox:
//! tokens need their owner defined above them, ACL roles and tokens must be defined above the
//! `acl` line, and a VMID belongs to the first pool that claims it.
//!
//! ACL lines, the million-line part of a large file, go into an [`AclTable`] without a per-line
//! allocation: each distinct path, role and member text is read once and cached (the checks
//! that depend on earlier lines are re-done whenever a user, token, group or role line came in
//! between), and every warning is still reported on its own line.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::table::{AclMember, AclTable, Grant, Interner, list_safe};
use super::{Token, User, UserConfig};
use crate::config::text::{self, is_perl_space, split_list};
use crate::identity::{GroupId, PoolId, RoleId, Tokenid, Userid, is_storage_id};
use crate::vocabulary::{AclPath, PrivSet, Privilege, is_builtin_role};

/// A line Proxmox would skip or partly drop, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, in Proxmox's words where it has them (never a secret: user.cfg has none).
    pub message: String,
}

pub(super) fn parse(text: &str) -> (UserConfig, Vec<Warning>) {
    let (mut cfg, table, warnings) = parse_table(text);
    cfg.acl = table.to_nodes();
    (cfg, warnings)
}

/// Read `text` with the ACL entries kept in compact form: the returned config's `acl` map is
/// empty and the entries are in the [`AclTable`].
pub(super) fn parse_table(text: &str) -> (UserConfig, AclTable, Vec<Warning>) {
    let mut p = Parser::default();
    // Proxmox forces root@pam in before the first line too, so `token:root@pam!x` needs no
    // `user:root@pam` line above it; a later user line still replaces it.
    p.cfg.users.insert(root(), User::new());
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_matches(is_perl_space);
        if line.is_empty() {
            continue;
        }
        p.line = i + 1;
        p.line_text = line;
        p.parse_line(line);
    }
    p.cfg.users.entry(root()).or_insert_with(User::new);
    p.table.drop_undefined_token_grants(&p.cfg);
    (p.cfg, p.table, p.warnings)
}

#[derive(Default)]
struct Parser<'a> {
    cfg: UserConfig,
    table: AclTable,
    warnings: Vec<Warning>,
    /// VMID → the pool that claimed it first.
    vm_owner: BTreeMap<String, PoolId>,
    line: usize,
    line_text: &'a str,
    /// Bumped by every user, token, group and role line: what an ACL line's roles and members
    /// refer to may have changed, so cached checks of them are stale.
    epoch: u64,
    /// Raw path text of an acl line → its index in `table.paths` (`None`: invalid).
    path_cache: FxHashMap<&'a str, Option<u32>>,
    /// Normalised path text → index in `table.paths` (two spellings, one path).
    path_index: Interner,
    /// Raw role text → what it was found to be, at which epoch.
    role_cache: FxHashMap<&'a str, Checked>,
    /// Raw member text → what it was found to be, at which epoch.
    member_cache: FxHashMap<&'a str, Checked>,
}

/// A cached reading of a role or member text of an acl line. The text's syntax never changes;
/// whether what it names is defined may, so the result is valid for one epoch.
#[derive(Debug, Clone, Copy)]
struct Checked {
    epoch: u64,
    /// Index into the table's roles or members; `None` if the text is not a valid id.
    index: Option<u32>,
    /// For roles and tokens: usable (kept); for users and groups: defined (else kept with
    /// a warning).
    defined: bool,
}

impl<'a> Parser<'a> {
    fn parse_line(&mut self, line: &'a str) {
        // Perl's split drops trailing empty fields; missing fields read as empty, so a fixed
        // array of trimmed fields says the same without allocating.
        let mut fields = [""; 9];
        for (slot, f) in fields.iter_mut().zip(line.split(':')) {
            *slot = f.trim_matches(is_perl_space);
        }
        let [kind, args @ ..] = fields;
        match kind {
            "user" => self.user(args),
            "token" => self.token(args),
            "group" => self.group(args),
            "pool" => self.pool(args),
            "role" => self.role(args),
            "acl" => self.acl(args),
            _ => self.warn(format!("ignore config line: {}", self.line_text)),
        }
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(Warning {
            line: self.line,
            message,
        });
    }
    fn user(&mut self, f: [&str; 8]) {
        self.epoch += 1;
        let [
            userid,
            enable,
            expire,
            firstname,
            lastname,
            email,
            comment,
            keys,
        ] = f;
        let Ok(id) = userid.parse::<Userid>() else {
            return self.warn(format!("ignore user `{userid}` - invalid user name"));
        };
        let Some(expire) = parse_expire(expire) else {
            return self.warn(format!(
                "ignore user `{userid}` - (illegal characters in expire `{expire}`)"
            ));
        };
        // A repeated user line replaces the earlier user, tokens included.
        self.cfg.users.insert(
            id,
            User {
                enable: perl_bool(enable),
                expire,
                firstname: decode_text(firstname),
                lastname: decode_text(lastname),
                email: perl_text(email).to_owned(),
                comment: decode_text(comment),
                keys: perl_text(keys).to_owned(),
                tokens: BTreeMap::new(),
            },
        );
    }

    fn token(&mut self, f: [&str; 8]) {
        self.epoch += 1;
        let [tokenid, expire, privsep, comment, ..] = f;
        let Ok(id) = tokenid.parse::<Tokenid>() else {
            return self.warn(format!("ignore invalid tokenid `{tokenid}`"));
        };
        let Some(expire) = parse_expire(expire) else {
            return self.warn(format!(
                "ignore token `{tokenid}` - (illegal characters in expire `{expire}`)"
            ));
        };
        let Ok(name) = id.name().parse() else {
            return self.warn(format!("ignore invalid tokenid `{tokenid}`"));
        };
        let Some(user) = self.cfg.users.get_mut(&id.user()) else {
            return self.warn(format!("ignore token `{tokenid}` - user does not exist"));
        };
        let token = user.tokens.entry(name).or_insert(Token {
            expire: 0,
            privsep: false,
            comment: String::new(),
        });
        token.expire = expire;
        token.privsep = perl_bool(privsep);
        // Proxmox only overwrites the comment when the line has one.
        let comment = decode_text(comment);
        if !comment.is_empty() {
            token.comment = comment;
        }
    }

    fn group(&mut self, f: [&str; 8]) {
        self.epoch += 1;
        let [groupid, members, comment, ..] = f;
        let Ok(id) = groupid.parse::<GroupId>() else {
            return self.warn(format!(
                "ignore group `{groupid}` - invalid characters in group name"
            ));
        };
        let mut new_members = Vec::new();
        for member in split_list(members) {
            match member.parse::<Userid>().ok().filter(|_| list_safe(member)) {
                Some(u) => {
                    if !self.cfg.users.contains_key(&u) {
                        // Still recorded: it counts for permissions (spec §2.1).
                        self.warn(format!(
                            "group `{groupid}`: member `{member}` is not a defined user"
                        ));
                    }
                    new_members.push(u);
                }
                None => self.warn(format!("ignore invalid group member `{member}`")),
            }
        }
        let group = self.cfg.groups.entry(id).or_default();
        group.members.extend(new_members);
        let comment = decode_text(comment);
        if !comment.is_empty() {
            group.comment = comment;
        }
    }

    fn pool(&mut self, f: [&str; 8]) {
        let [poolid, comment, vmids, storages, ..] = f;
        let Ok(id) = poolid.parse::<PoolId>() else {
            return self.warn(format!(
                "ignore pool `{poolid}` - invalid characters in pool name"
            ));
        };
        let mut parent = id.parent();
        while let Some(p) = parent {
            parent = p.parent();
            self.cfg.pools.entry(p).or_default();
        }
        let comment = decode_text(comment);
        let mut vms = Vec::new();
        for vmid in split_list(vmids) {
            let Some(vmid) = perl_int(vmid) else {
                self.warn(format!("ignore invalid vmid `{vmid}` in pool `{poolid}`"));
                continue;
            };
            if self.vm_owner.contains_key(&vmid) {
                self.warn(format!("ignore duplicate vmid `{vmid}` in pool `{poolid}`"));
                continue;
            }
            self.vm_owner.insert(vmid.clone(), id.clone());
            vms.push(vmid);
        }
        let mut storage = Vec::new();
        for store in split_list(storages) {
            if is_storage_id(store) {
                storage.push(store.to_owned());
            } else {
                self.warn(format!(
                    "ignore invalid storage `{store}` in pool `{poolid}`"
                ));
            }
        }
        let pool = self.cfg.pools.entry(id).or_default();
        if !comment.is_empty() {
            pool.comment = comment;
        }
        pool.vms.extend(vms);
        pool.storage.extend(storage);
    }

    fn role(&mut self, f: [&str; 8]) {
        self.epoch += 1;
        let [roleid, privs, ..] = f;
        let Ok(id) = roleid.parse::<RoleId>() else {
            return self.warn(format!(
                "ignore role `{roleid}` - invalid characters in role name"
            ));
        };
        if is_builtin_role(roleid) {
            // Proxmox would mutate its shared built-in definition; we keep built-ins fixed.
            return self.warn(format!(
                "ignore role `{roleid}` - built-in roles cannot be redefined"
            ));
        }
        let mut set = PrivSet::EMPTY;
        for name in split_list(privs) {
            match name.parse::<Privilege>() {
                Ok(p) => set = set.with(p),
                Err(_) => self.warn(format!("ignore invalid privilege `{name}`")),
            }
        }
        let role = self.cfg.roles.entry(id).or_insert(PrivSet::EMPTY);
        *role = role.union(set);
    }

    fn acl(&mut self, f: [&'a str; 8]) {
        let [propagate, path, members, roles, ..] = f;
        let propagate = perl_bool(propagate);
        let Some(path_index) = self.acl_path(path) else {
            return self.warn(format!("ignore invalid path in acl `{path}`"));
        };
        // Members are read (and warned about) per role, in Proxmox's order; a line that
        // grants nothing adds no node.
        for role in split_list(roles) {
            let Some(role_index) = self.acl_role(role) else {
                continue;
            };
            for member in split_list(members) {
                if let Some(member_index) = self.acl_member(member) {
                    self.table.grants.push(Grant {
                        path: path_index,
                        member: member_index,
                        role: role_index,
                        propagate,
                    });
                }
            }
        }
    }

    /// The table index of an acl line's path; `None` if Proxmox would skip it.
    fn acl_path(&mut self, raw: &'a str) -> Option<u32> {
        if let Some(&cached) = self.path_cache.get(raw) {
            return cached;
        }
        let found = AclPath::normalize(raw).map(|path| {
            let key = path.as_str().to_owned();
            self.path_index.intern(&mut self.table.paths, &key, || path)
        });
        self.path_cache.insert(raw, found);
        found
    }

    /// The table index of one role of an acl line; `None` (with a warning) where Proxmox skips
    /// it: an invalid name, or a role neither built in nor defined above.
    fn acl_role(&mut self, role: &'a str) -> Option<u32> {
        let checked = match self.role_cache.get(role) {
            Some(c) if c.epoch == self.epoch => *c,
            seen => {
                let index = seen.and_then(|c| c.index).or_else(|| {
                    let id = role.parse::<RoleId>().ok()?;
                    self.table.roles.push(id);
                    Some(self.table.roles.len() as u32 - 1)
                });
                let defined = index.is_some_and(|i| {
                    is_builtin_role(role)
                        || self.cfg.roles.contains_key(&self.table.roles[i as usize])
                });
                let c = Checked {
                    epoch: self.epoch,
                    index,
                    defined,
                };
                self.role_cache.insert(role, c);
                c
            }
        };
        match checked.index {
            None => self.warn(format!("ignore invalid role name `{role}` in acl")),
            Some(_) if !checked.defined => self.warn(format!("ignore invalid acl role `{role}`")),
            Some(i) => return Some(i),
        }
        None
    }

    /// The table index of one member of an acl line; `None` (with a warning) where Proxmox
    /// skips it.
    fn acl_member(&mut self, member: &'a str) -> Option<u32> {
        let checked = match self.member_cache.get(member) {
            Some(c) if c.epoch == self.epoch => *c,
            seen => {
                let index = seen.and_then(|c| c.index).or_else(|| {
                    let parsed = read_member(member)?;
                    self.table.members.push(parsed);
                    Some(self.table.members.len() as u32 - 1)
                });
                let defined = index.is_some_and(|i| match &self.table.members[i as usize] {
                    AclMember::Group(g) => self.cfg.groups.contains_key(g),
                    AclMember::User(u) => self.cfg.users.contains_key(u),
                    AclMember::Token(t) => self.cfg.token(t).is_some(),
                });
                let c = Checked {
                    epoch: self.epoch,
                    index,
                    defined,
                };
                self.member_cache.insert(member, c);
                c
            }
        };
        let Some(i) = checked.index else {
            self.warn(format!("invalid user/group `{member}` in acl"));
            return None;
        };
        if checked.defined {
            return Some(i);
        }
        match &self.table.members[i as usize] {
            AclMember::Group(_) => {
                self.warn(format!("acl group `{member}` does not exist (kept)"));
                Some(i)
            }
            AclMember::User(_) => {
                self.warn(format!("acl member `{member}` does not exist (kept)"));
                Some(i)
            }
            AclMember::Token(_) => {
                self.warn(format!("ignore invalid acl token `{member}`"));
                None
            }
        }
    }
}

/// Read one member of an acl line as Proxmox tells the kinds apart; `None` if it is none.
fn read_member(member: &str) -> Option<AclMember> {
    let member = Some(member).filter(|m| list_safe(m))?;
    // Perl's `$group && ...`: a group named "0" is falsy and falls through.
    let group = member
        .strip_prefix('@')
        .filter(|g| *g != "0" && !g.chars().any(is_perl_space))
        .and_then(|g| g.parse::<GroupId>().ok());
    if let Some(g) = group {
        Some(AclMember::Group(g))
    } else if let Ok(u) = member.parse::<Userid>() {
        Some(AclMember::User(u))
    } else {
        member.parse::<Tokenid>().ok().map(AclMember::Token)
    }
}

/// Perl truthiness of a flag field: empty and "0" are false.
fn perl_bool(s: &str) -> bool {
    !(s.is_empty() || s == "0")
}

/// A raw text field as Proxmox keeps it: "0" is falsy and dropped, like empty.
fn perl_text(s: &str) -> &str {
    if s == "0" { "" } else { s }
}

/// Decode a percent-encoded text field (spec §2.1), with Proxmox's truthiness: the writer
/// drops a value that is (or decodes to) "0".
pub(crate) fn decode_text(s: &str) -> String {
    let text = text::decode_text(perl_text(s));
    if text == "0" { String::new() } else { text }
}

/// Expire field: empty → 0; else all digits; `None` skips the line.
fn parse_expire(s: &str) -> Option<u64> {
    if s.is_empty() {
        return Some(0);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Perl's int() of an over-long digit string saturates; clamp instead of failing.
    Some(s.parse().unwrap_or(u64::MAX))
}

/// A VMID as Proxmox stores it: `int($vmid)` of a digit string, so `0100` becomes `100`.
fn perl_int(s: &str) -> Option<String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = s.trim_start_matches('0');
    Some(if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    })
}

fn root() -> Userid {
    // INVARIANT: "root@pam" is a valid userid.
    Userid::ROOT.parse().expect("root@pam parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_list_rules() {
        let got: Vec<_> = split_list(" a,b;c  d,,").collect();
        assert_eq!(got, ["a", "b", "c", "d"]);
        let got: Vec<_> = split_list("a b\0c").collect();
        assert_eq!(got, ["a b", "c"]);
    }

    #[test]
    fn text_decoding() {
        assert_eq!(decode_text("M%C3%BCller"), "Müller");
        assert_eq!(decode_text("Team%3A infra"), "Team: infra");
        assert_eq!(decode_text("100%"), "100%");
        assert_eq!(decode_text("0"), "");
        assert_eq!(decode_text("%30"), "");
    }

    #[test]
    fn vmids_are_perl_ints() {
        assert_eq!(perl_int("0100").as_deref(), Some("100"));
        assert_eq!(perl_int("000").as_deref(), Some("0"));
        assert_eq!(perl_int("1a"), None);
    }
}
