//! Proxmox's lenient `user.cfg` reader (spec §2.1, `PVE::AccessControl::parse_user_config`).
//!
//! One pass, top to bottom; every line Proxmox would skip (or partly drop) becomes a [`Warning`]
//! with its line number, so `check-config` can show it. Line order matters exactly as in Proxmox:
//! tokens need their owner defined above them, ACL roles and tokens must be defined above the
//! `acl` line, and a VMID belongs to the first pool that claims it.

use std::collections::BTreeMap;

use super::{Token, User, UserConfig};
use crate::access::{AclPath, PrivSet, Privilege, is_builtin_role};
use crate::config::text::{self, is_perl_space, split_list};
use crate::identity::{GroupId, PoolId, RoleId, Tokenid, Userid, is_storage_id};

/// A line Proxmox would skip or partly drop, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, in Proxmox's words where it has them (never a secret: user.cfg has none).
    pub message: String,
}

pub(super) fn parse(text: &str) -> (UserConfig, Vec<Warning>) {
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
    (p.cfg, p.warnings)
}

#[derive(Default)]
struct Parser<'a> {
    cfg: UserConfig,
    warnings: Vec<Warning>,
    /// VMID → the pool that claimed it first.
    vm_owner: BTreeMap<String, PoolId>,
    line: usize,
    line_text: &'a str,
}

impl<'a> Parser<'a> {
    fn parse_line(&mut self, line: &'a str) {
        let mut fields: Vec<&str> = line
            .split(':')
            .map(|f| f.trim_matches(is_perl_space))
            .collect();
        // Perl's split drops trailing empty fields; missing fields then read as empty.
        while fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let args = [
            field(1),
            field(2),
            field(3),
            field(4),
            field(5),
            field(6),
            field(7),
            field(8),
        ];
        match field(0) {
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
        let [groupid, members, comment, ..] = f;
        let Ok(id) = groupid.parse::<GroupId>() else {
            return self.warn(format!(
                "ignore group `{groupid}` - invalid characters in group name"
            ));
        };
        let mut new_members = Vec::new();
        for member in split_list(members) {
            match member.parse::<Userid>() {
                Ok(u) => {
                    if !self.cfg.users.contains_key(&u) {
                        // Still recorded: it counts for permissions (spec §2.1).
                        self.warn(format!(
                            "group `{groupid}`: member `{member}` is not a defined user"
                        ));
                    }
                    new_members.push(u);
                }
                Err(_) => self.warn(format!("ignore invalid group member `{member}`")),
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

    fn acl(&mut self, f: [&str; 8]) {
        let [propagate, path, members, roles, ..] = f;
        let propagate = perl_bool(propagate);
        let Some(path_id) = AclPath::normalize(path) else {
            return self.warn(format!("ignore invalid path in acl `{path}`"));
        };
        // Members are read (and warned about) per role, in Proxmox's order, and only then
        // added: the node is looked up once, and a line that grants nothing adds no node.
        let mut grants: Vec<(AclMember, RoleId)> = Vec::new();
        for role in split_list(roles) {
            let Ok(role_id) = role.parse::<RoleId>() else {
                self.warn(format!("ignore invalid role name `{role}` in acl"));
                continue;
            };
            if !is_builtin_role(role) && !self.cfg.roles.contains_key(&role_id) {
                self.warn(format!("ignore invalid acl role `{role}`"));
                continue;
            }
            for member in split_list(members) {
                if let Some(m) = self.acl_member(member) {
                    grants.push((m, role_id.clone()));
                }
            }
        }
        if grants.is_empty() {
            return;
        }
        let node = self.cfg.acl.entry(path_id).or_default();
        for (member, role) in grants {
            let roles = match member {
                AclMember::User(u) => node.users.entry(u).or_default(),
                AclMember::Group(g) => node.groups.entry(g).or_default(),
                AclMember::Token(t) => node.tokens.entry(t).or_default(),
            };
            roles.insert(role, propagate);
        }
    }

    /// Read one member of an `acl` line; `None` (with a warning) where Proxmox skips it.
    fn acl_member(&mut self, member: &str) -> Option<AclMember> {
        // Perl's `$group && ...`: a group named "0" is falsy and falls through.
        let group = member
            .strip_prefix('@')
            .filter(|g| *g != "0" && !g.chars().any(is_perl_space))
            .and_then(|g| g.parse::<GroupId>().ok());
        if let Some(g) = group {
            if !self.cfg.groups.contains_key(&g) {
                self.warn(format!("acl group `{member}` does not exist (kept)"));
            }
            Some(AclMember::Group(g))
        } else if let Ok(u) = member.parse::<Userid>() {
            if !self.cfg.users.contains_key(&u) {
                self.warn(format!("acl member `{member}` does not exist (kept)"));
            }
            Some(AclMember::User(u))
        } else if let Ok(t) = member.parse::<Tokenid>() {
            if self.cfg.token(&t).is_some() {
                Some(AclMember::Token(t))
            } else {
                self.warn(format!("ignore invalid acl token `{member}`"));
                None
            }
        } else {
            self.warn(format!("invalid user/group `{member}` in acl"));
            None
        }
    }
}

/// A member of an `acl` line, as read.
enum AclMember {
    User(Userid),
    Group(GroupId),
    Token(Tokenid),
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
