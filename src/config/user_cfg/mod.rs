//! `user.cfg` (spec §2.1): the data model, Proxmox's lenient reader and canonical writer.
//!
//! [`UserConfig`] is inert data: what the file says, after Proxmox's parse rules. The permission
//! engine (`access::Engine`) is compiled from it. The writers (CLI, access API) edit a
//! [`UserConfigEdit`]: the same, with the ACL entries compact ([`AclEdit`]), and write it back.

mod change;
mod diff;
mod edit;
mod entries;
mod index;
mod parse;
mod table;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use crate::identity::{GroupId, PoolId, RoleId, TokenName, Tokenid, Userid};
use crate::vocabulary::PrivSet;

pub use change::{Change, ChangeError};
pub use edit::AclEdit;
pub use entries::{AclEntries, AclMap};
pub use index::{Account, AuthIndex, TokenAccount};
pub use parse::Warning;
pub use table::{AclMember, AclTable, Grant};

/// Everything `user.cfg` holds. `A` is how the ACL entries are held: an ordered map as parsed
/// ([`AclMap`]), or compact as a writer edits them ([`AclEdit`], see [`UserConfigEdit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig<A = AclMap> {
    /// Users by id; each carries its tokens. Always contains `root@pam`.
    pub users: BTreeMap<Userid, User>,
    /// Groups by id.
    pub groups: BTreeMap<GroupId, Group>,
    /// Pools by id (nested ids such as `a/b` have their parents present too).
    pub pools: BTreeMap<PoolId, Pool>,
    /// Custom roles only; the built-in roles are implicit and never stored here.
    pub roles: BTreeMap<RoleId, PrivSet>,
    /// ACL entries by normalised path, in tree order.
    pub acl: A,
}

/// `user.cfg` as the writers edit it ([`crate::config::StateDir::modify`]): the ACL entries
/// stay in the compact form they were read in, and only the paths an edit touches become map
/// nodes (a write at a million entries builds no million-entry map; docs/scale.md).
pub type UserConfigEdit = UserConfig<AclEdit>;

/// A `user:` line and the `token:` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `enable` field: the account may authenticate.
    pub enable: bool,
    /// Expiry, seconds since the epoch; 0 = never.
    pub expire: u64,
    pub firstname: String,
    pub lastname: String,
    /// Stored raw (not percent-encoded).
    pub email: String,
    pub comment: String,
    /// Legacy TFA data, stored raw: key ids / secrets, or the marker `x` (entries in tfa.cfg).
    pub keys: String,
    /// This user's API tokens by name.
    pub tokens: BTreeMap<TokenName, Token>,
}

/// A `token:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Expiry, seconds since the epoch; 0 = no own expiry (the owner's still applies).
    pub expire: u64,
    /// Privilege separation: effective privileges = token ACLs ∩ owner privileges.
    pub privsep: bool,
    pub comment: String,
}

/// A `group:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Members; a syntactically valid userid counts even if the user is not defined.
    pub members: BTreeSet<Userid>,
    pub comment: String,
}

/// A `pool:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    pub comment: String,
    /// VMIDs as written (digit strings; Proxmox keys them as strings and sorts them as strings).
    pub vms: BTreeSet<String>,
    /// Storage ids.
    pub storage: BTreeSet<String>,
}

/// The ACL entries at one path: member → role → propagate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclNode {
    pub users: BTreeMap<Userid, BTreeMap<RoleId, bool>>,
    pub groups: BTreeMap<GroupId, BTreeMap<RoleId, bool>>,
    pub tokens: BTreeMap<Tokenid, BTreeMap<RoleId, bool>>,
}

// === impl UserConfig ===

/// Only for the map-shaped config, so that `UserConfig::default()` needs no type annotation.
impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            pools: BTreeMap::new(),
            roles: BTreeMap::new(),
            acl: AclMap::new(),
        }
    }
}

impl UserConfig {
    /// Read `user.cfg` text with Proxmox's lenient rules: bad lines are skipped and reported.
    pub fn parse(text: &str) -> (UserConfig, Vec<Warning>) {
        parse::parse(text)
    }

    /// As [`UserConfig::parse`], with the ACL entries left in compact form: the answered
    /// config's `acl` map is empty and the entries are in the [`AclTable`] (what the gateway
    /// compiles its engine from without holding a second, map-shaped copy).
    pub fn parse_split(text: &str) -> (UserConfig, AclTable, Vec<Warning>) {
        parse::parse_table(text)
    }

    /// As [`UserConfig::parse`], ready for a writer to edit: the entries compact.
    pub fn parse_edit(text: &str) -> (UserConfigEdit, Vec<Warning>) {
        let (cfg, table, warnings) = parse::parse_table(text);
        (cfg.with_acl(AclEdit::new(table)), warnings)
    }

    /// Write the canonical text (Proxmox's order and encoding).
    pub fn write(&self) -> String {
        write::write(self)
    }
}

impl UserConfigEdit {
    /// Write the canonical text, the same as [`UserConfig::write`] of [`Self::to_config`]
    /// (another name: `UserConfig::default().write()` must not need a type annotation).
    pub fn write_edit(&self) -> String {
        write::write_edit(self)
    }

    /// The configuration with its entries as an ordered map (every entry: a million-entry
    /// map at scale; for callers that need one, such as an engine build).
    pub fn to_config(&self) -> UserConfig {
        self.without_acl().with_acl(self.acl.to_map())
    }
}

impl<A> UserConfig<A> {
    /// The same configuration with `acl` as its entries.
    pub fn with_acl<B>(self, acl: B) -> UserConfig<B> {
        UserConfig {
            users: self.users,
            groups: self.groups,
            pools: self.pools,
            roles: self.roles,
            acl,
        }
    }

    /// A copy of everything but the ACL entries (an empty map in their place).
    pub fn without_acl(&self) -> UserConfig {
        UserConfig {
            users: self.users.clone(),
            groups: self.groups.clone(),
            pools: self.pools.clone(),
            roles: self.roles.clone(),
            acl: AclMap::new(),
        }
    }

    /// The token with this full id, if its owner and the token are defined.
    pub fn token(&self, id: &Tokenid) -> Option<&Token> {
        let user = self.users.get(&id.user())?;
        user.tokens.get(&id.name().parse().ok()?)
    }

    /// The privileges of a role, built-in or custom.
    pub fn role_privs(&self, role: &RoleId) -> Option<PrivSet> {
        crate::vocabulary::builtin_role(role.as_str()).or_else(|| self.roles.get(role).copied())
    }

    /// The pool that holds VM `vmid`, if any (a VM is in at most one pool).
    pub fn pool_of_vm(&self, vmid: &str) -> Option<&PoolId> {
        self.pools
            .iter()
            .find(|(_, p)| p.vms.contains(vmid))
            .map(|(id, _)| id)
    }
}

impl<A: AclEntries> UserConfig<A> {
    /// Remove `userid` with its tokens, its tokens' ACL entries and its group memberships, and
    /// answer the removed token ids (`None`: no such user). The user's own ACL entries stay,
    /// as in Proxmox's realm sync; see [`UserConfig::remove_user_acl`].
    pub fn remove_user(&mut self, userid: &Userid) -> Option<Vec<Tokenid>> {
        let user = self.users.remove(userid)?;
        let tokens: Vec<Tokenid> = user
            .tokens
            .keys()
            .map(|name| Tokenid::new(userid, name))
            .collect();
        for group in self.groups.values_mut() {
            group.members.remove(userid);
        }
        for id in &tokens {
            self.acl.remove_member(&AclMember::Token(id.clone()));
        }
        Some(tokens)
    }

    /// Drop every ACL entry of user `userid` (Proxmox's `delete_user_acl`).
    pub fn remove_user_acl(&mut self, userid: &Userid) {
        self.acl.remove_member(&AclMember::User(userid.clone()));
    }

    /// Drop every ACL entry of group `group` (Proxmox's `delete_group_acl`).
    pub fn remove_group_acl(&mut self, group: &GroupId) {
        self.acl.remove_member(&AclMember::Group(group.clone()));
    }

    /// Drop every ACL entry of token `id`.
    pub fn remove_token_acl(&mut self, id: &Tokenid) {
        self.acl.remove_member(&AclMember::Token(id.clone()));
    }
}

// === impl User ===

impl User {
    /// A new enabled user with no expiry, as the API creates one.
    pub fn new() -> Self {
        User {
            enable: true,
            expire: 0,
            firstname: String::new(),
            lastname: String::new(),
            email: String::new(),
            comment: String::new(),
            keys: String::new(),
            tokens: BTreeMap::new(),
        }
    }

    /// Whether the account may authenticate at `now` (enabled and not expired; spec §4.8).
    pub fn is_usable(&self, now: u64) -> bool {
        User::usable(self.enable, self.expire, now)
    }

    /// The rule behind [`User::is_usable`], for copies of the two fields.
    pub(crate) fn usable(enable: bool, expire: u64, now: u64) -> bool {
        enable && (expire == 0 || expire >= now)
    }
}

impl Default for User {
    fn default() -> Self {
        Self::new()
    }
}

// === impl Token ===

impl Token {
    /// Whether the token's own expiry allows use at `now` (the owner must be checked too).
    pub fn is_unexpired(&self, now: u64) -> bool {
        Token::unexpired(self.expire, now)
    }

    /// The rule behind [`Token::is_unexpired`], for a copy of the field.
    pub(crate) fn unexpired(expire: u64, now: u64) -> bool {
        expire == 0 || expire >= now
    }
}

// === impl AclNode ===

impl AclNode {
    /// Whether the node holds no entries at all.
    pub fn is_empty(&self) -> bool {
        self.users.values().all(BTreeMap::is_empty)
            && self.groups.values().all(BTreeMap::is_empty)
            && self.tokens.values().all(BTreeMap::is_empty)
    }

    /// Total number of (member, role) entries.
    pub fn len(&self) -> usize {
        fn count<K>(m: &BTreeMap<K, BTreeMap<RoleId, bool>>) -> usize {
            m.values().map(BTreeMap::len).sum()
        }
        count(&self.users) + count(&self.groups) + count(&self.tokens)
    }
}
