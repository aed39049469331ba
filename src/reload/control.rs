//! The control socket: how a CLI write reaches a running gateway at once, through the same door
//! as everything else ([`ReloadHandle::apply`]).
//!
//! Every gateway listens on `<state>/.gateway-<pid>.sock` (dot-named, so the file watch ignores
//! it; mode 0600, and a peer must run as the socket's owner or as root — the users who may
//! write the state files anyway). A CLI write, still holding the writers' lock, sends what it
//! wrote ([`Written`], one JSON line) to every such socket and waits for each answer, so when
//! the command returns, every running gateway on the directory decides with the change (a
//! revoked token is refused). A socket nobody listens on is left over from a gateway that
//! ended; the CLI removes it. No gateway listening is fine: nothing runs that could be stale.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::ReloadHandle;
use super::wire::{Reply, WireWritten};
use crate::config::StateDir;
use crate::config::state_dir::{Notifier, Written};

/// How long a CLI write waits for a gateway's answer (a full load at a million ACL entries
/// takes seconds on a busy machine).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest request line a gateway reads; a larger edit is sent as "load the files".
const MAX_LINE: usize = 32 << 20;

const PREFIX: &str = ".gateway-";
const SUFFIX: &str = ".sock";

/// A listening control socket; dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listen on this process's control socket in `state` (on the current tokio runtime), handing
/// every request to `handle`. Keep the returned value alive.
pub fn listen(handle: ReloadHandle, state: &StateDir) -> std::io::Result<ControlSocket> {
    let path = state
        .root()
        .join(format!("{PREFIX}{}{SUFFIX}", std::process::id()));
    // Left over from an earlier process with this pid.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let owner = std::fs::metadata(&path)?.uid();
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: don't spin; writers fall back on the file watch.
                    tracing::warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let allowed = stream
                .peer_cred()
                .is_ok_and(|c| c.uid() == 0 || c.uid() == owner);
            if !allowed {
                tracing::warn!("control socket: refused a peer of another user");
                continue;
            }
            let handle = handle.clone();
            tokio::spawn(serve(stream, handle));
        }
    });
    Ok(ControlSocket { path, task })
}

/// One connection: requests and answers, a line each.
async fn serve(stream: tokio::net::UnixStream, handle: ReloadHandle) {
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read.take(MAX_LINE as u64));
    let mut line = String::new();
    while matches!(lines.read_line(&mut line).await, Ok(n) if n > 0) {
        let reply = match serde_json::from_str::<WireWritten>(&line)
            .map_err(|e| format!("malformed request: {e}"))
            .and_then(WireWritten::into_written)
        {
            Ok(written) => match handle.apply(written).await {
                Ok(applied) => Reply::Applied(applied),
                Err(error) => Reply::Error { error },
            },
            Err(error) => Reply::Error { error },
        };
        line.clear();
        let mut out = serde_json::to_string(&reply).unwrap_or_default();
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A notifier for [`StateDir::with_notifier`] that tells every gateway on `state` of each
/// write and waits for its answers (see the module comment).
pub fn notifier(state: &StateDir) -> Notifier {
    let root = state.root().to_owned();
    Notifier::new(move |written| tell_all(&root, written))
}

fn tell_all(root: &Path, written: &Written) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut line = serde_json::to_string(&WireWritten::from_written(written)).unwrap_or_default();
    if line.len() >= MAX_LINE {
        let whole = Written {
            changes: None,
            ..written.clone()
        };
        line = serde_json::to_string(&WireWritten::from_written(&whole)).unwrap_or_default();
    }
    line.push('\n');
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
            continue;
        }
        let path = entry.path();
        match tell(&path, &line) {
            Ok(Reply::Applied(applied)) => {
                tracing::debug!(socket = %path.display(), ?applied, "gateway holds the change");
            }
            Ok(Reply::Error { error }) => {
                tracing::warn!(socket = %path.display(), %error, "a running gateway did not take the change");
            }
            Err(e) if is_left_over(&e) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => {
                tracing::warn!(socket = %path.display(), error = %e, "a running gateway did not confirm the change; it will load the files itself");
            }
        }
    }
}

fn tell(path: &Path, line: &str) -> std::io::Result<Reply> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer)?;
    serde_json::from_str(&answer)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Nobody listens: the gateway that made the socket has ended.
fn is_left_over(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ConnectionRefused
}
