//! The etcd backend: the state as one object per key under `<prefix>/v1/` (docs/etcd.md),
//! loaded whole at one revision, changed by transactions that check what they read.
//!
//! Every write transaction also rewrites `meta/serial` and requires that its `mod_revision`
//! is still the one read: a writer that read the state at revision R commits only if no
//! other aclgate write happened since, so two writers never lose each other's change and
//! never combine into an invalid state (a role deleted while an ACL entry naming it is
//! added). Writers on the same cluster also queue on a lease-bound lock (`meta/lock`), so
//! conflicts are rare; the serial check is what makes them safe.

mod client;
mod watch;

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

pub use client::{Client, EtcdError, Header, Kv};
pub use watch::{Change, WatchEvent, Watcher};

use super::objects::Objects;
use crate::config::store::EtcdSettings;

/// Page size of a load (keys per range request).
const PAGE: usize = 5000;
/// Operations per transaction (etcd's default `--max-txn-ops` is 128; one is `meta/serial`).
const TXN_OPS: usize = 127;
/// How long the writers' lock lives without its holder.
const LOCK_TTL_S: u64 = 30;
/// How long a writer waits for the lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The state in etcd under one prefix.
pub struct EtcdStore {
    client: Client,
    /// `<prefix>/v1/`.
    root: String,
}

/// The whole state at one revision.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub objects: Objects,
    /// The store revision the objects were read at.
    pub revision: i64,
    /// `mod_revision` of `meta/serial` (0: never written).
    pub serial: i64,
}

/// `store status`: what one member says.
#[derive(Debug, Clone)]
pub struct MemberStatus {
    pub endpoint: String,
    pub name: String,
    /// `Err`: the member did not answer.
    pub status: Result<MemberState, String>,
}

/// A member's own view.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberState {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub leader: String,
    #[serde(rename = "dbSize", default, deserialize_with = "client::int")]
    pub db_size: i64,
}

#[derive(Debug, Deserialize)]
struct RangeAnswer {
    header: Header,
    #[serde(default)]
    kvs: Vec<Kv>,
    #[serde(default)]
    more: bool,
}

#[derive(Debug, Deserialize)]
struct TxnAnswer {
    header: Header,
    #[serde(default)]
    succeeded: bool,
    /// The failure branch's reads (a lock or serial key as it is now).
    #[serde(default)]
    responses: Vec<TxnResponse>,
}

#[derive(Debug, Deserialize)]
struct TxnResponse {
    #[serde(default)]
    response_range: Option<RangeAnswer>,
}

impl TxnAnswer {
    /// The key read by the failure branch, if it exists.
    fn read_back(&self) -> Option<&Kv> {
        self.responses
            .iter()
            .find_map(|r| r.response_range.as_ref())
            .and_then(|r| r.kvs.first())
    }
}

// === impl EtcdStore ===

impl EtcdStore {
    /// A store for `settings` (nothing is contacted yet).
    pub fn new(settings: &EtcdSettings) -> Result<EtcdStore, EtcdError> {
        let prefix = settings.prefix.trim_end_matches('/');
        Ok(EtcdStore {
            client: Client::new(settings)?,
            root: format!("{prefix}/v1/"),
        })
    }

    /// The full key of relative key `rel`.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.root)
    }

    /// The relative key of a full key under the root (`None`: another prefix, or `meta/`).
    pub fn relative(&self, key: &[u8]) -> Option<String> {
        let rel = key.strip_prefix(self.root.as_bytes())?;
        let rel = std::str::from_utf8(rel).ok()?;
        (!rel.starts_with("meta/")).then(|| rel.to_owned())
    }

    /// The client (for the watcher and `store status`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Read the whole state at one revision (linearizable). The ACL entries are read bucket by
    /// bucket (256 bounded ranges) rather than in pages of one huge range, whose every page
    /// costs etcd 3.4 the whole rest of the range.
    pub fn load(&self) -> Result<Loaded, EtcdError> {
        let mut attempts = 0;
        loop {
            match self.load_once() {
                // Compaction passed the revision mid-load: read again at a newer one.
                Err(EtcdError::Compacted) if attempts < 3 => attempts += 1,
                other => return other,
            }
        }
    }

    fn load_once(&self) -> Result<Loaded, EtcdError> {
        let (revision, serial) = self.read_serial(true)?;
        let mut loaded = Loaded {
            objects: Objects::new(),
            revision,
            serial,
        };
        // A small state is one page; only a big one is read by buckets.
        let end = prefix_end(&self.root);
        if self.range_page(&self.root, &end, revision, &mut loaded.objects)? {
            return Ok(loaded);
        }
        loaded.objects.clear();
        let acl = self.key("acl/");
        let mut ranges = vec![(self.root.clone(), acl.clone())];
        for b in 0..=255u8 {
            let start = format!("{acl}{b:02x}/");
            let end = format!("{acl}{b:02x}0");
            ranges.push((start, end));
        }
        ranges.push((self.key("acl0"), prefix_end(&self.root)));
        for (start, end) in ranges {
            self.range_into(&start, &end, revision, &mut loaded.objects)?;
        }
        Ok(loaded)
    }

    /// Read the first page of `[start, end)` at `revision` into `out`; whether that was all.
    fn range_page(
        &self,
        start: &str,
        end: &str,
        revision: i64,
        out: &mut Objects,
    ) -> Result<bool, EtcdError> {
        let answer: RangeAnswer = self.client.call(
            "/v3/kv/range",
            &json!({
                "key": client::encode(start.as_bytes()),
                "range_end": client::encode(end.as_bytes()),
                "revision": revision.to_string(),
                "limit": PAGE.to_string(),
            }),
        )?;
        for kv in answer.kvs {
            if let Some(rel) = self.relative(&kv.key) {
                out.insert(rel, kv.value);
            }
        }
        Ok(!answer.more)
    }

    /// Read `[start, end)` at `revision`, page by page, into `out` (relative keys).
    fn range_into(
        &self,
        start: &str,
        end: &str,
        revision: i64,
        out: &mut Objects,
    ) -> Result<(), EtcdError> {
        let mut from = start.as_bytes().to_vec();
        loop {
            let answer: RangeAnswer = self.client.call(
                "/v3/kv/range",
                &json!({
                    "key": client::encode(&from),
                    "range_end": client::encode(end.as_bytes()),
                    "revision": revision.to_string(),
                    "limit": PAGE.to_string(),
                }),
            )?;
            let last = answer.kvs.last().map(|kv| kv.key.clone());
            for kv in answer.kvs {
                if let Some(rel) = self.relative(&kv.key) {
                    out.insert(rel, kv.value);
                }
            }
            match last {
                Some(mut key) if answer.more => {
                    key.push(0);
                    from = key;
                }
                _ => return Ok(()),
            }
        }
    }

    /// A linearizable read of `meta/serial`: (current store revision, its `mod_revision`, 0 if
    /// absent). If the serial is not newer than a gateway's applied revision, that gateway is
    /// current as of this read.
    /// One attempt, no retry while etcd is busy: the probe reports trouble at once.
    pub fn serial(&self) -> Result<(i64, i64), EtcdError> {
        self.read_serial(false)
    }

    fn read_serial(&self, patient: bool) -> Result<(i64, i64), EtcdError> {
        let path = "/v3/kv/range";
        let body = json!({ "key": client::encode(self.key("meta/serial").as_bytes()) });
        let answer: RangeAnswer = if patient {
            self.client.call(path, &body)?
        } else {
            self.client.call_once(path, &body)?
        };
        let serial = answer.kvs.first().map_or(0, |kv| kv.mod_revision);
        Ok((answer.header.revision, serial))
    }

    /// Write the difference between `base` (as loaded) and `new`: deletions first (a
    /// revocation takes effect in the first revision), then puts, in transactions of at most
    /// 127 operations, each requiring that no other write came between. Answers the revision
    /// of the last transaction, or `None` if nothing changed. [`StoreConflict`] if another
    /// writer got there first (nothing of this change was written then, unless it needed more
    /// than one transaction, see docs/etcd.md).
    pub fn commit(&self, base: &Loaded, new: &Objects) -> Result<Option<i64>, CommitError> {
        let mut ops = Vec::new();
        for key in base.objects.keys().filter(|k| !new.contains_key(*k)) {
            ops.push(json!({ "request_delete_range": { "key": client::encode(self.key(key).as_bytes()) } }));
        }
        for (key, value) in new.iter().filter(|(k, v)| base.objects.get(*k) != Some(*v)) {
            ops.push(json!({ "request_put": {
                "key": client::encode(self.key(key).as_bytes()),
                "value": client::encode(value),
            } }));
        }
        if ops.is_empty() {
            return Ok(None);
        }
        let serial_key = client::encode(self.key("meta/serial").as_bytes());
        let mut expected = base.serial;
        for (i, chunk) in ops.chunks(TXN_OPS).enumerate() {
            let compare = if expected == 0 {
                json!({ "key": serial_key, "target": "CREATE", "result": "EQUAL", "create_revision": "0" })
            } else {
                json!({ "key": serial_key, "target": "MOD", "result": "EQUAL", "mod_revision": expected.to_string() })
            };
            // The serial names this transaction, so that a repeat after a lost answer (an
            // election, a timeout) can tell "mine went through" from "another writer's did";
            // the compare makes sure at most one of the attempts commits.
            let mark = format!("aclgate {}", uuid::Uuid::new_v4().simple());
            let mut success = chunk.to_vec();
            success.push(json!({ "request_put": { "key": serial_key, "value": client::encode(mark.as_bytes()) } }));
            let failure = json!({ "request_range": { "key": serial_key } });
            let answer: TxnAnswer = self
                .client
                .call_tracked(
                    "/v3/kv/txn",
                    &json!({ "compare": [compare], "success": success, "failure": [failure] }),
                )
                .map_err(|f| match (f.maybe_applied, i) {
                    (false, 0) => CommitError::Etcd(f.error),
                    (true, 0) => CommitError::Unknown(f.error.to_string()),
                    _ => CommitError::Partial(f.error.to_string()),
                })?;
            expected = if answer.succeeded {
                answer.header.revision
            } else {
                match answer.read_back() {
                    // An earlier attempt of this transaction committed.
                    Some(kv) if kv.value == mark.as_bytes() => kv.mod_revision,
                    _ if i == 0 => return Err(CommitError::Conflict),
                    _ => {
                        return Err(CommitError::Partial(
                            "another writer came between its transactions".to_owned(),
                        ));
                    }
                }
            };
        }
        Ok(Some(expected))
    }

    /// Take the writers' lock (waiting for another holder up to a minute); released when the
    /// guard is dropped, or by etcd [`LOCK_TTL_S`] seconds after a holder died.
    pub fn lock(&self) -> Result<WriterLock<'_>, EtcdError> {
        let lease = self.lock_lease()?;
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(lock) = self.try_lock(lease)? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                self.revoke(lease);
                return Err(lock_timeout());
            }
            // Back off with jitter: writers queue on a lock whose holder needs milliseconds.
            std::thread::sleep(pause + Duration::from_micros(rand::random::<u64>() % 2000));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// A lease for [`EtcdStore::try_lock`].
    pub fn lock_lease(&self) -> Result<i64, EtcdError> {
        #[derive(Deserialize)]
        struct Grant {
            #[serde(rename = "ID", deserialize_with = "client::int")]
            id: i64,
        }
        let grant: Grant = self
            .client
            .call("/v3/lease/grant", &json!({ "TTL": LOCK_TTL_S.to_string() }))?;
        Ok(grant.id)
    }

    /// Take the writers' lock with `lease` if nobody holds it (one transaction). Repeatable: a
    /// lock already bound to `lease` (an earlier attempt whose answer was lost) is ours.
    pub fn try_lock(&self, lease: i64) -> Result<Option<WriterLock<'_>>, EtcdError> {
        let key = client::encode(self.key("meta/lock").as_bytes());
        let answer: TxnAnswer = self.client.call(
            "/v3/kv/txn",
            &json!({
                "compare": [{ "key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                "success": [{ "request_put": { "key": key, "value": client::encode(b"locked"), "lease": lease.to_string() } }],
                "failure": [{ "request_range": { "key": key } }],
            }),
        )?;
        let ours = answer.succeeded || answer.read_back().is_some_and(|kv| kv.lease == lease);
        // Not `then_some`: building the guard eagerly would drop it, and revoke the lease.
        Ok(if ours {
            Some(WriterLock { store: self, lease })
        } else {
            None
        })
    }

    /// Give up a lease taken for the lock without holding it.
    pub fn release_lease(&self, lease: i64) {
        self.revoke(lease);
    }

    fn revoke(&self, lease: i64) {
        let _: Result<serde_json::Value, _> = self
            .client
            .call("/v3/lease/revoke", &json!({ "ID": lease.to_string() }));
    }

    /// Every member's view (for `store status`).
    pub fn members(&self) -> Result<Vec<MemberStatus>, EtcdError> {
        #[derive(Deserialize)]
        struct Member {
            #[serde(default)]
            name: String,
            #[serde(rename = "clientURLs", default)]
            client_urls: Vec<String>,
        }
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            members: Vec<Member>,
        }
        let list: List = self.client.call("/v3/cluster/member/list", &json!({}))?;
        Ok(list
            .members
            .into_iter()
            .map(|m| {
                let endpoint = m.client_urls.first().cloned().unwrap_or_default();
                let status = self
                    .client
                    .call_member::<MemberState>(&endpoint, "/v3/maintenance/status", &json!({}))
                    .map_err(|e| e.to_string());
                MemberStatus {
                    endpoint,
                    name: m.name,
                    status,
                }
            })
            .collect())
    }
}

/// The writers' lock; released on drop.
pub struct WriterLock<'a> {
    store: &'a EtcdStore,
    lease: i64,
}

impl Drop for WriterLock<'_> {
    fn drop(&mut self) {
        // Revoking the lease deletes the lock key; if etcd is unreachable, the TTL does it.
        self.store.revoke(self.lease);
    }
}

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another writer changed the state since it was read.
    #[error(
        "the state changed while this change was prepared (another writer); nothing was written, try again"
    )]
    Conflict,
    #[error(transparent)]
    Etcd(EtcdError),
    /// The transaction was sent but its answer never came: it may or may not have committed.
    #[error(
        "{0}; etcd did not confirm the change: it may have been written, check before repeating it"
    )]
    Unknown(String),
    /// A change of several transactions stopped after the first one.
    #[error("{0}; the change was written only in part (see docs/etcd.md, Limits)")]
    Partial(String),
}

/// Waiting for the writers' lock took too long.
pub fn lock_timeout() -> EtcdError {
    EtcdError::Server("another writer holds the state lock (waited 60 s)".to_owned())
}

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
