//! `priv/tfa.cfg`: every user's second factors, in proxmox-tfa's JSON layout (spec §2.5).
//!
//! ```json
//! { "users": { "<userid>": { "totp": [{ "id", "description", "created", "enable"?, "entry" }],
//!                             "webauthn": [...], "u2f": [...], "yubico": [...],
//!                             "recovery": { "secret", "entries", "created" },
//!                             "totp-locked": true, "tfa-locked-until": 1700000000 } },
//!   "webauthn": {...}, "u2f": {...},
//!   "challenges": { "<userid>": { pending WebAuthn challenges, failure counters } } }
//! ```
//! `webauthn`/`u2f` at the top (Proxmox's copy of the datacenter.cfg settings) are kept as
//! read. aclgate's own runtime state (pending challenges, consecutive failure counters) lives
//! under `challenges`, outside the user objects, so that Proxmox could still read the users.
//! WebAuthn and U2F entries are kept as raw JSON: an entry aclgate cannot use still counts as a
//! configured factor (fail closed) and is written back unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TfaError;
use super::recovery::Recovery;
use super::totp::TotpEntry;
use crate::config::StateDir;
use crate::config::state_dir::read_optional;
use crate::identity::Userid;

/// The whole of `tfa.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TfaStore {
    /// Second factors per user.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<Userid, TfaUserData>,
    /// Proxmox's WebAuthn settings copy (kept as read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<Value>,
    /// Proxmox's U2F settings copy (kept as read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u2f: Option<Value>,
    /// Pending challenges and failure counters per user.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub challenges: BTreeMap<Userid, UserChallenges>,
}

/// One user's second factors (proxmox-tfa `TfaUserData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TfaUserData {
    /// TOTP entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub totp: Vec<TfaEntry<TotpEntry>>,
    /// U2F registrations (`{key: {keyHandle, version}, public-key, certificate?}` plus
    /// aclgate's `counter`, which proxmox-tfa ignores).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub u2f: Vec<TfaEntry<Value>>,
    /// WebAuthn credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webauthn: Vec<TfaEntry<Value>>,
    /// Recovery keys (one set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// Yubico key ids (first 12 characters of an OTP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yubico: Vec<TfaEntry<String>>,
    /// TOTP refused after too many consecutive TOTP failures.
    #[serde(default, skip_serializing_if = "is_false")]
    pub totp_locked: bool,
    /// Every factor refused until this epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tfa_locked_until: Option<i64>,
}

/// One entry with its metadata (proxmox-tfa `TfaEntry` with flattened `TfaInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfaEntry<T> {
    /// Random UUID.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Creation time (epoch).
    #[serde(default)]
    pub created: i64,
    /// Disabled entries are neither offered nor accepted.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enable: bool,
    /// The factor's data.
    pub entry: T,
}

/// aclgate runtime state of one user: pending WebAuthn/U2F challenges and failure counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserChallenges {
    /// Pending WebAuthn registrations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webauthn_registrations: Vec<PendingChallenge>,
    /// Pending WebAuthn logins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webauthn_auths: Vec<PendingChallenge>,
    /// Pending U2F registrations (`challenge` = the JSON text sent to the client).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub u2f_registrations: Vec<PendingChallenge>,
    /// Pending U2F logins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub u2f_auths: Vec<PendingChallenge>,
    /// Consecutive TOTP failures.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub totp_failures: u32,
    /// Consecutive failures of any second factor.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tfa_failures: u32,
}

/// A pending WebAuthn challenge and the server-side state that finishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingChallenge {
    /// The challenge (base64url), as sent to the client.
    pub challenge: String,
    /// Creation time (epoch); expires after [`super::CHALLENGE_TIMEOUT_SECS`].
    pub created: i64,
    /// Description of the entry to create (registrations only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// webauthn-rs state (serialised).
    pub state: Value,
}

/// A listed entry: `GET /access/tfa/{userid}` item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypedTfaInfo {
    /// `totp`, `u2f`, `webauthn`, `recovery` or `yubico`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Entry id (`recovery` for the recovery keys).
    pub id: String,
    /// Free text.
    pub description: String,
    /// Creation time (epoch).
    pub created: i64,
    /// Whether the entry may be used.
    pub enable: bool,
}

// === impl TfaStore ===

impl TfaStore {
    /// Parse tfa.cfg text. Users whose id is invalid are dropped with a warning (as Proxmox
    /// does); any other damage fails the whole file (fail closed: no user silently loses
    /// their second factor).
    pub fn parse(text: &str) -> Result<(TfaStore, Vec<String>), TfaError> {
        if text.trim().is_empty() {
            return Ok((TfaStore::default(), Vec::new()));
        }
        let mut raw: BTreeMap<String, Value> =
            serde_json::from_str(text).map_err(|e| TfaError::Config(e.to_string()))?;
        let mut warnings = Vec::new();
        for section in ["users", "challenges"] {
            if let Some(Value::Object(map)) = raw.get_mut(section) {
                map.retain(|userid, _| {
                    let ok = userid.parse::<Userid>().is_ok();
                    if !ok {
                        warnings.push(format!("tfa.cfg: dropping invalid userid '{userid}'"));
                    }
                    ok
                });
            }
        }
        let value = Value::Object(raw.into_iter().collect());
        let store = serde_json::from_value(value).map_err(|e| TfaError::Config(e.to_string()))?;
        Ok((store, warnings))
    }

    /// The canonical text (pretty JSON, newline at the end).
    pub fn write(&self) -> String {
        // INVARIANT: every field serialises (strings, numbers, JSON values, string-keyed maps).
        let mut text = serde_json::to_string_pretty(self).expect("tfa.cfg serialises");
        text.push('\n');
        text
    }

    /// Read `<state>/priv/tfa.cfg` (missing = empty); warnings are logged.
    pub fn load(state: &StateDir) -> Result<TfaStore, TfaError> {
        let text = read_optional(&path(state))?.unwrap_or_default();
        let (store, warnings) = TfaStore::parse(&text)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(store)
    }

    /// Write `<state>/priv/tfa.cfg` (0600, atomically). Hold [`StateDir::lock`].
    pub fn save(&self, state: &StateDir) -> Result<(), TfaError> {
        state.write_secret(&path(state), self.write().as_bytes())?;
        Ok(())
    }

    /// Take the state lock, re-read tfa.cfg, run `f`, and write it back if it changed (on a
    /// gateway on etcd: committed to etcd, so counters and lockouts hold for the fleet).
    pub fn modify<T>(
        state: &StateDir,
        f: impl FnOnce(&mut TfaStore) -> Result<T, TfaError>,
    ) -> Result<T, TfaError> {
        state.locked(|state| {
            let mut store = TfaStore::load(state)?;
            let before = store.clone();
            let out = f(&mut store)?;
            if store != before {
                store.save(state)?;
            }
            Ok(out)
        })
    }

    /// The user's data, if any factor or lock exists.
    pub fn user(&self, userid: &Userid) -> Option<&TfaUserData> {
        self.users.get(userid)
    }

    /// The user's entries as listed by the API (recovery keys first when present).
    pub fn list_user(&self, userid: &Userid) -> Vec<TypedTfaInfo> {
        self.users
            .get(userid)
            .map(TfaUserData::list)
            .unwrap_or_default()
    }

    /// Remove one entry (`recovery` = the recovery keys). Returns whether the user has
    /// entries left; [`TfaError::NoSuchEntry`] if absent.
    pub fn delete_entry(&mut self, userid: &Userid, id: &str) -> Result<bool, TfaError> {
        let user = self
            .users
            .get_mut(userid)
            .ok_or_else(|| TfaError::NoSuchEntry(id.to_owned()))?;
        if !user.remove_entry(id) {
            return Err(TfaError::NoSuchEntry(id.to_owned()));
        }
        Ok(!user.is_empty())
    }

    /// Remove every entry, lock and pending challenge of a user. Returns whether anything
    /// was removed.
    pub fn remove_user(&mut self, userid: &Userid) -> bool {
        let a = self.users.remove(userid).is_some();
        let b = self.challenges.remove(userid).is_some();
        a || b
    }

    /// Clear both locks and both failure counters. Returns whether the user was locked.
    pub fn unlock(&mut self, userid: &Userid, now: i64) -> bool {
        let mut was_locked = false;
        if let Some(user) = self.users.get_mut(userid) {
            was_locked = user.totp_locked || user.tfa_locked_until.is_some_and(|t| t > now);
            user.totp_locked = false;
            user.tfa_locked_until = None;
        }
        if let Some(ch) = self.challenges.get_mut(userid) {
            ch.totp_failures = 0;
            ch.tfa_failures = 0;
        }
        self.tidy(userid);
        was_locked
    }

    /// Runtime state of a user (created on demand).
    pub fn challenges_mut(&mut self, userid: &Userid) -> &mut UserChallenges {
        self.challenges.entry(userid.clone()).or_default()
    }

    /// Drop expired challenges of every user and empty records.
    pub fn expire_challenges(&mut self, now: i64) {
        for ch in self.challenges.values_mut() {
            ch.expire(now);
        }
        self.challenges.retain(|_, ch| !ch.is_empty());
    }

    /// Drop empty records of a user.
    pub fn tidy(&mut self, userid: &Userid) {
        if self
            .users
            .get(userid)
            .is_some_and(|u| u.is_empty() && !u.is_locked())
        {
            self.users.remove(userid);
        }
        if self
            .challenges
            .get(userid)
            .is_some_and(UserChallenges::is_empty)
        {
            self.challenges.remove(userid);
        }
    }
}

// === impl TfaUserData ===

impl TfaUserData {
    /// No entry at all. A set of recovery keys counts even when every key is spent (as in
    /// proxmox-tfa): the user still needs a second factor, and gets none until an admin helps.
    pub fn is_empty(&self) -> bool {
        self.totp.is_empty()
            && self.u2f.is_empty()
            && self.webauthn.is_empty()
            && self.yubico.is_empty()
            && self.recovery.is_none()
    }

    /// Whether a TOTP or the general lock is set.
    pub fn is_locked(&self) -> bool {
        self.totp_locked || self.tfa_locked_until.is_some()
    }

    /// Whether any enabled factor exists (this is what makes a login need TFA); a set of
    /// recovery keys counts even when spent (fail closed, as proxmox-tfa).
    pub fn has_enabled(&self) -> bool {
        self.totp.iter().any(|e| e.enable)
            || self.u2f.iter().any(|e| e.enable)
            || self.webauthn.iter().any(|e| e.enable)
            || self.yubico.iter().any(|e| e.enable)
            || self.recovery.is_some()
    }

    /// API listing of the entries.
    pub fn list(&self) -> Vec<TypedTfaInfo> {
        let mut out = Vec::new();
        if let Some(r) = &self.recovery {
            out.push(TypedTfaInfo {
                kind: "recovery",
                id: "recovery".into(),
                description: "recovery keys".into(),
                created: r.created,
                enable: true,
            });
        }
        push_infos(&mut out, "totp", &self.totp);
        push_infos(&mut out, "u2f", &self.u2f);
        push_infos(&mut out, "webauthn", &self.webauthn);
        push_infos(&mut out, "yubico", &self.yubico);
        out
    }

    /// Change description/enable of an entry (not `recovery`); false if absent.
    pub fn update_entry(
        &mut self,
        id: &str,
        description: Option<&str>,
        enable: Option<bool>,
    ) -> bool {
        let apply = |desc: &mut String, en: &mut bool| {
            if let Some(d) = description {
                *desc = d.to_owned();
            }
            if let Some(e) = enable {
                *en = e;
            }
        };
        macro_rules! find_in {
            ($list:expr) => {
                if let Some(e) = $list.iter_mut().find(|e| e.id == id) {
                    apply(&mut e.description, &mut e.enable);
                    return true;
                }
            };
        }
        find_in!(self.totp);
        find_in!(self.u2f);
        find_in!(self.webauthn);
        find_in!(self.yubico);
        false
    }

    fn remove_entry(&mut self, id: &str) -> bool {
        if id == "recovery" {
            return self.recovery.take().is_some();
        }
        let before = self.totp.len() + self.u2f.len() + self.webauthn.len() + self.yubico.len();
        self.totp.retain(|e| e.id != id);
        self.u2f.retain(|e| e.id != id);
        self.webauthn.retain(|e| e.id != id);
        self.yubico.retain(|e| e.id != id);
        before != self.totp.len() + self.u2f.len() + self.webauthn.len() + self.yubico.len()
    }
}

// === impl TfaEntry ===

impl<T> TfaEntry<T> {
    /// A new enabled entry with a random UUID.
    pub fn new(description: String, entry: T, now: i64) -> TfaEntry<T> {
        TfaEntry {
            id: uuid::Uuid::new_v4().to_string(),
            description,
            created: now,
            enable: true,
            entry,
        }
    }
}

// === impl UserChallenges ===

impl UserChallenges {
    /// Add a pending WebAuthn registration, dropping the oldest beyond [`MAX_PENDING`].
    pub fn push_registration(&mut self, challenge: PendingChallenge) {
        push_bounded(&mut self.webauthn_registrations, challenge);
    }

    /// Add a pending WebAuthn login, dropping the oldest beyond [`MAX_PENDING`].
    pub fn push_auth(&mut self, challenge: PendingChallenge) {
        push_bounded(&mut self.webauthn_auths, challenge);
    }

    /// Add a pending U2F registration (`u2f`) or login, bounded likewise.
    pub fn push_u2f(&mut self, challenge: PendingChallenge, registration: bool) {
        let list = if registration {
            &mut self.u2f_registrations
        } else {
            &mut self.u2f_auths
        };
        push_bounded(list, challenge);
    }

    fn expire(&mut self, now: i64) {
        let live =
            |c: &PendingChallenge| now.saturating_sub(c.created) < super::CHALLENGE_TIMEOUT_SECS;
        self.webauthn_registrations.retain(live);
        self.webauthn_auths.retain(live);
        self.u2f_registrations.retain(live);
        self.u2f_auths.retain(live);
    }

    fn is_empty(&self) -> bool {
        self.webauthn_registrations.is_empty()
            && self.webauthn_auths.is_empty()
            && self.u2f_registrations.is_empty()
            && self.u2f_auths.is_empty()
            && self.totp_failures == 0
            && self.tfa_failures == 0
    }
}

fn push_infos<T>(out: &mut Vec<TypedTfaInfo>, kind: &'static str, entries: &[TfaEntry<T>]) {
    out.extend(entries.iter().map(|e| TypedTfaInfo {
        kind,
        id: e.id.clone(),
        description: e.description.clone(),
        created: e.created,
        enable: e.enable,
    }));
}

fn path(state: &StateDir) -> std::path::PathBuf {
    state.priv_dir().join("tfa.cfg")
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Pending WebAuthn challenges kept per user and kind. Each login that passed the password
/// step (or each registration start) adds one, and they live for the challenge timeout; without
/// a bound, someone who knows a password but not the second factor could grow `tfa.cfg`, which
/// is rewritten on every attempt, without end. The oldest goes first: a client answers the
/// challenge it got last.
pub const MAX_PENDING: usize = 8;

fn push_bounded(list: &mut Vec<PendingChallenge>, challenge: PendingChallenge) {
    list.push(challenge);
    let excess = list.len().saturating_sub(MAX_PENDING);
    list.drain(..excess);
}
