//! Per-core serving (`listeners.runtime = "per_core"`): besides the caller's runtime, each
//! further worker is a thread with a single-threaded runtime and its own `SO_REUSEPORT`
//! sockets for the same addresses. The kernel spreads new connections over the sockets; a
//! connection then lives on one thread, so no request pays for work stealing or cross-thread
//! wake-ups (a multi-threaded runtime with two workers cost about a third more CPU per request
//! than one worker). Everything else (the gateway, the limits, the snapshot) is shared.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{oneshot, watch};

use super::accept::Shared;
use super::{Listeners, serve_shard};

/// One further worker's sockets, not yet tied to a runtime.
#[derive(Debug, Default)]
pub struct ShardListeners {
    /// HTTPS.
    pub tls: Option<std::net::TcpListener>,
    /// Plain HTTP.
    pub http: Option<std::net::TcpListener>,
}

/// `count` listening sockets for `addr` with `SO_REUSEPORT` (Linux spreads connections over
/// them); the first on the calling runtime, the others for [`ShardListeners`]. Port 0 picks one
/// port for all. Call on a runtime.
pub fn bind_reuseport(
    addr: SocketAddr,
    count: usize,
) -> std::io::Result<(TcpListener, Vec<std::net::TcpListener>)> {
    let first = reuseport_socket(addr)?;
    let addr = first.local_addr()?;
    let mut more = Vec::with_capacity(count.saturating_sub(1));
    for _ in 1..count {
        more.push(reuseport_socket(addr)?.into_std()?);
    }
    Ok((first, more))
}

fn reuseport_socket(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The further workers, running.
pub(super) struct Shards {
    stop: watch::Sender<bool>,
    running: Vec<(oneshot::Receiver<()>, JoinHandle<()>)>,
    /// One per worker, told once its listeners are on its runtime.
    up: Vec<oneshot::Receiver<()>>,
}

/// Start a thread per entry of `more`, each serving its listeners with `shared`.
pub(super) fn spawn(shared: &Arc<Shared>, more: Vec<ShardListeners>) -> Shards {
    let (stop, _) = watch::channel(false);
    let mut running = Vec::with_capacity(more.len());
    let mut up = Vec::with_capacity(more.len());
    for (i, listeners) in more.into_iter().enumerate() {
        let (done, finished) = oneshot::channel();
        let (accepting, accepts) = oneshot::channel();
        up.push(accepts);
        let mut stopped = stop.subscribe();
        let shared = shared.clone();
        let thread = std::thread::Builder::new()
            // At most 15 bytes: the kernel cuts thread names there.
            .name(format!("aclgate-worker{}", i + 1))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(r) => r,
                    Err(e) => return tracing::error!(error = %e, "worker runtime failed to start"),
                };
                runtime.block_on(async {
                    let listeners = match on_this_runtime(listeners) {
                        Ok(l) => l,
                        Err(e) => return tracing::error!(error = %e, "worker listener failed"),
                    };
                    let _ = accepting.send(());
                    let stop = async {
                        // A dropped sender stops too.
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    serve_shard(&shared, listeners, stop).await;
                });
                let _ = done.send(());
            });
        match thread {
            Ok(t) => running.push((finished, t)),
            Err(e) => tracing::error!(error = %e, "worker thread failed to start"),
        }
    }
    Shards { stop, running, up }
}

fn on_this_runtime(l: ShardListeners) -> std::io::Result<Listeners> {
    let tokio_listener = |l: Option<std::net::TcpListener>| -> std::io::Result<_> {
        l.map(|l| {
            l.set_nonblocking(true)?;
            TcpListener::from_std(l)
        })
        .transpose()
    };
    Ok(Listeners {
        tls: tokio_listener(l.tls)?,
        http: tokio_listener(l.http)?,
        admin: None,
    })
}

impl Shards {
    /// Wait until every worker accepts connections (a worker that failed to start counts as
    /// done: it has logged why).
    pub async fn accepting(&mut self) {
        for up in self.up.drain(..) {
            let _ = up.await;
        }
    }

    /// Tell every worker to stop accepting and drain.
    pub fn signal_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Wait until every worker has drained and ended.
    pub async fn wait(self) {
        self.signal_stop();
        for (finished, thread) in self.running {
            // Err: the worker ended without saying so (its runtime failed); either way it is over.
            let _ = finished.await;
            let _ = thread.join();
        }
    }
}
