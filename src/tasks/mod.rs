//! aclgate's own worker tasks, as Proxmox keeps them: each task has a [`Upid`] naming this
//! node, its log is a file `<state>/tasks/<X>/<UPID>` (X = last hex digit of the start time,
//! Proxmox's `/var/log/pve/tasks` layout) whose last line is `TASK OK`, `TASK WARNINGS: N` or
//! `TASK ERROR: message`, and the API reads status and log from there
//! (`GET /nodes/{node}/tasks/{upid}/status` and `/log`, pve-manager's `PVE::API2::Tasks`).
//!
//! A task is ours when its log file is in our task directory; any other UPID belongs to the
//! upstream and its requests are forwarded. Whether a task still runs is known only to the
//! process running it ([`Tasks::is_running`]); a log without a final line whose process is gone
//! reads as Proxmox's `unexpected status`.

mod upid;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use upid::{BadUpid, Upid};

/// The task directory of one state directory, and the tasks this process runs.
#[derive(Debug, Clone)]
pub struct Tasks {
    /// `<state>/tasks`.
    dir: PathBuf,
    /// This node's name (the short host name), written into every UPID.
    node: String,
    /// UPIDs of the tasks running in this process.
    running: Arc<Mutex<HashSet<String>>>,
}

/// A running task: append log lines, then [`TaskLog::finish`].
#[derive(Debug)]
pub struct TaskLog {
    /// The task's id.
    pub upid: Upid,
    file: File,
    running: Arc<Mutex<HashSet<String>>>,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `TASK OK`.
    Ok,
    /// `TASK WARNINGS: N`.
    Warnings(usize),
    /// `TASK ERROR: message`.
    Error(String),
}

// === impl Tasks ===

impl Tasks {
    /// The tasks of the state directory `state_root`, named after this host.
    pub fn new(state_root: &Path) -> Tasks {
        Tasks::with_node(state_root, nodename())
    }

    /// The tasks of `state_root` on node `node`.
    pub fn with_node(state_root: &Path, node: String) -> Tasks {
        Tasks {
            dir: state_root.join("tasks"),
            node,
            running: Arc::default(),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Start a task of `kind` on `id` for `user`: a new UPID and its (empty) log file.
    pub fn start(&self, kind: &str, id: &str, user: &str, now: i64) -> io::Result<TaskLog> {
        let mut upid = Upid {
            node: self.node.clone(),
            pid: std::process::id(),
            pstart: process_start(),
            starttime: now,
            kind: kind.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        };
        // Two tasks of one kind, id and user within a second: the later one starts a second
        // later on paper, so that every UPID names one log.
        loop {
            let path = self.path(&upid);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    lock(&self.running).insert(upid.to_string());
                    return Ok(TaskLog {
                        upid,
                        file,
                        running: self.running.clone(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => upid.starttime += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `upid` is one of ours (its log is in our task directory).
    pub fn owns(&self, upid: &Upid) -> bool {
        upid.node == self.node && self.path(upid).is_file()
    }

    /// Whether `upid` runs in this process.
    pub fn is_running(&self, upid: &Upid) -> bool {
        lock(&self.running).contains(&upid.to_string())
    }

    /// `GET .../tasks/{upid}/status`: the UPID's fields, `status` running/stopped and, once
    /// stopped, `exitstatus`. `None` if the task is not ours.
    pub fn status(&self, upid: &Upid) -> Option<Value> {
        if !self.owns(upid) {
            return None;
        }
        let mut out = upid.to_json();
        let map = out.as_object_mut()?;
        if self.is_running(upid) {
            map.insert("status".to_owned(), json!("running"));
        } else {
            map.insert("status".to_owned(), json!("stopped"));
            let last = self.lines(upid).ok()?.pop().unwrap_or_default();
            map.insert("exitstatus".to_owned(), json!(exit_status(&last)));
        }
        Some(out)
    }

    /// `GET .../tasks/{upid}/log?start&limit`: `(total, [{n, t}])` as Proxmox's
    /// `dump_logfile` (lines numbered from 1, `limit` 0 = all, `no content` for an empty log).
    pub fn log(&self, upid: &Upid, start: usize, limit: usize) -> Option<(usize, Vec<Value>)> {
        if !self.owns(upid) {
            return None;
        }
        let lines = self.lines(upid).ok()?;
        if lines.is_empty() {
            return Some((1, vec![json!({"n": 1, "t": "no content"})]));
        }
        let take = if limit == 0 { usize::MAX } else { limit };
        let out = lines
            .iter()
            .enumerate()
            .skip(start)
            .take(take)
            .map(|(i, t)| json!({"n": i + 1, "t": t}))
            .collect();
        Some((lines.len(), out))
    }

    fn lines(&self, upid: &Upid) -> io::Result<Vec<String>> {
        BufReader::new(File::open(self.path(upid))?)
            .lines()
            .collect()
    }

    fn path(&self, upid: &Upid) -> PathBuf {
        self.dir
            .join(upid.subdir().to_string())
            .join(upid.to_string())
    }
}

// === impl TaskLog ===

impl TaskLog {
    /// Append one line to the log (a failed write is logged, not fatal to the task).
    pub fn line(&mut self, text: &str) {
        for line in text.lines() {
            if let Err(e) = writeln!(self.file, "{line}") {
                tracing::warn!(upid = %self.upid, error = %e, "cannot write the task log");
            }
        }
    }

    /// Write the final status line and mark the task stopped.
    pub fn finish(mut self, exit: &Exit) {
        let last = match exit {
            Exit::Ok => "TASK OK".to_owned(),
            Exit::Warnings(n) => format!("TASK WARNINGS: {n}"),
            Exit::Error(m) => format!("TASK ERROR: {}", m.lines().next().unwrap_or_default()),
        };
        self.line(&last);
        let _ = self.file.sync_all();
        lock(&self.running).remove(&self.upid.to_string());
    }
}

impl Drop for TaskLog {
    fn drop(&mut self) {
        // A task dropped without finish (a panic, a cancelled future) is no longer running.
        lock(&self.running).remove(&self.upid.to_string());
    }
}

/// Proxmox's `upid_read_status` of a log's last line.
fn exit_status(last: &str) -> String {
    if last == "TASK OK" {
        return "OK".to_owned();
    }
    if let Some(m) = last.strip_prefix("TASK ERROR: ")
        && !m.is_empty()
    {
        return m.to_owned();
    }
    if let Some(w) = last.strip_prefix("TASK ")
        && let Some(n) = w.strip_prefix("WARNINGS: ")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return w.to_owned();
    }
    "unexpected status".to_owned()
}

fn lock(m: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    // A poisoned set is still a valid set of strings.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The short host name, as Proxmox's `PVE::INotify::nodename` (`localhost` if unknown).
fn nodename() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let short = name.trim().split('.').next().unwrap_or_default();
    let ok = !short.is_empty()
        && short
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        short.to_owned()
    } else {
        "localhost".to_owned()
    }
}

/// This process's start time in clock ticks since boot (field 22 of `/proc/self/stat`).
fn process_start() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_runs_and_stops_with_its_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tasks = Tasks::with_node(dir.path(), "gw1".to_owned());
        let mut log = tasks
            .start("auth-realm-sync", "ldap1", "root@pam", 1_700_000_000)
            .expect("start");
        let upid = log.upid.clone();
        let twin = tasks
            .start("auth-realm-sync", "ldap1", "root@pam", 1_700_000_000)
            .expect("a second task in the same second");
        assert_ne!(twin.upid, upid, "two tasks share a UPID");
        log.line("starting sync\nsecond line");
        assert_eq!(tasks.status(&upid).expect("ours")["status"], "running");
        log.finish(&Exit::Error("boom\nmore".to_owned()));
        let status = tasks.status(&upid).expect("ours");
        assert_eq!(status["status"], "stopped");
        assert_eq!(status["exitstatus"], "boom");
        assert_eq!(status["upid"], upid.to_string());
        let (total, lines) = tasks.log(&upid, 1, 1).expect("ours");
        assert_eq!(total, 3);
        assert_eq!(lines, vec![json!({"n": 2, "t": "second line"})]);
        let other = Upid {
            node: "pve1".to_owned(),
            ..upid
        };
        assert!(tasks.status(&other).is_none(), "another node's task");
    }

    #[test]
    fn exit_statuses() {
        for (last, want) in [
            ("TASK OK", "OK"),
            ("TASK ERROR: no such realm", "no such realm"),
            ("TASK WARNINGS: 3", "WARNINGS: 3"),
            ("TASK ERROR: ", "unexpected status"),
            ("adding user", "unexpected status"),
        ] {
            assert_eq!(exit_status(last), want, "{last:?}");
        }
    }
}
