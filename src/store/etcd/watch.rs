//! Watching the state prefix from a revision on: each etcd watch response becomes one
//! [`WatchEvent`] (a response never splits a revision, so applying it whole never shows a
//! half transaction).

use std::io::BufRead;

use serde::Deserialize;
use serde_json::json;

use super::client::{self, EtcdError, Header, Kv};
use super::{EtcdStore, prefix_end};

/// One key changed: its relative key, the new value (`None`: deleted) and the revision.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub revision: i64,
}

/// What a watch response says.
#[derive(Debug)]
pub enum WatchEvent {
    /// Changes of one or more whole revisions (keys under `meta/` left out; `changes` may then
    /// be empty) up to `revision`.
    Changes { changes: Vec<Change>, revision: i64 },
    /// Nothing happened under the prefix up to `revision` (a progress notification).
    Progress { revision: i64 },
    /// The history from the start revision is gone: load again.
    Compacted,
}

/// An open watch.
pub struct Watcher<'a> {
    store: &'a EtcdStore,
    lines: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<Box<dyn BufRead + Send>>,
        Line,
    >,
}

#[derive(Debug, Deserialize)]
struct Line {
    #[serde(default)]
    result: Option<Answer>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    canceled: bool,
    #[serde(default, deserialize_with = "client::int")]
    compact_revision: i64,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type", default)]
    kind: String,
    kv: Kv,
}

// === impl EtcdStore ===

impl EtcdStore {
    /// Watch everything under the prefix from `start` (inclusive), with progress
    /// notifications. Answers once etcd has created the watch.
    pub fn watch(&self, start: i64) -> Result<Watcher<'_>, EtcdError> {
        let body = json!({ "create_request": {
            "key": client::encode(self.root.as_bytes()),
            "range_end": client::encode(prefix_end(&self.root).as_bytes()),
            "start_revision": start.to_string(),
            "progress_notify": true,
        } });
        let reader = self.client.stream("/v3/watch", &body)?;
        let mut watcher = Watcher {
            store: self,
            lines: serde_json::Deserializer::from_reader(reader).into_iter(),
        };
        // The first answer confirms the watch (or cancels it at once, when compacted).
        match watcher.answer()? {
            a if a.canceled => Err(cancel_error(&a)),
            a if a.created => Ok(watcher),
            _ => Err(EtcdError::Server("watch: no creation answer".to_owned())),
        }
    }
}

// === impl Watcher ===

impl Watcher<'_> {
    /// Wait for the next answer. An error means the stream is dead: watch again from the
    /// last applied revision + 1.
    pub fn next_event(&mut self) -> Result<WatchEvent, EtcdError> {
        let answer = self.answer()?;
        if answer.canceled {
            return match cancel_error(&answer) {
                EtcdError::Compacted => Ok(WatchEvent::Compacted),
                other => Err(other),
            };
        }
        if answer.events.is_empty() {
            return Ok(WatchEvent::Progress {
                revision: answer.header.revision,
            });
        }
        let revision = answer
            .events
            .last()
            .map_or(answer.header.revision, |e| e.kv.mod_revision);
        let changes = answer
            .events
            .into_iter()
            .filter_map(|e| {
                let key = self.store.relative(&e.kv.key)?;
                let value = (e.kind != "DELETE").then_some(e.kv.value);
                Some(Change {
                    key,
                    value,
                    revision: e.kv.mod_revision,
                })
            })
            .collect();
        // Resume from the last event's revision, never the header's (etcd sends the store
        // head in every catch-up batch).
        Ok(WatchEvent::Changes { changes, revision })
    }

    fn answer(&mut self) -> Result<Answer, EtcdError> {
        match self.lines.next() {
            None => Err(EtcdError::Unavailable("watch stream ended".to_owned())),
            Some(Err(e)) => Err(EtcdError::Unavailable(format!("watch stream: {e}"))),
            Some(Ok(Line {
                result: Some(a), ..
            })) => Ok(a),
            Some(Ok(Line { error, .. })) => Err(EtcdError::Unavailable(format!(
                "watch stream error: {}",
                error.unwrap_or_default()
            ))),
        }
    }
}

fn cancel_error(a: &Answer) -> EtcdError {
    if a.compact_revision > 0 || a.cancel_reason.contains("compacted") {
        EtcdError::Compacted
    } else {
        EtcdError::Server(format!("watch canceled: {}", a.cancel_reason))
    }
}
