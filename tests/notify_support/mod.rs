//! The readiness message `aclgate serve` sends to `$NOTIFY_SOCKET` (systemd's `sd_notify`):
//! tests start the gateway with `--listen 127.0.0.1:0` and take the port the kernel chose
//! from its `STATUS=serving on https://127.0.0.1:PORT, ...` line. A free port picked by the
//! test and handed over could be taken by another test before the gateway binds it.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A socket in a directory of the test's, for the gateway's `NOTIFY_SOCKET`.
pub struct Notify {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Notify {
    /// Bind `dir/notify`.
    pub fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        Notify { socket, path }
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The gateway's first message, once it has come (at most 60 s): `Err` with the reason if
    /// none did.
    pub fn message(&self) -> Result<String, std::io::Error> {
        let mut buf = [0u8; 512];
        let n = self.socket.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

/// The TLS listener's port in a `READY=1` message; panics on anything else.
pub fn ready_tls_port(message: &str) -> u16 {
    assert!(
        message.lines().any(|l| l == "READY=1"),
        "not a readiness message: {message:?}"
    );
    message
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=serving on https://127.0.0.1:"))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no TLS port in the readiness message {message:?}"))
}
