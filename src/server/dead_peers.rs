//! Peers that are gone (host down, network cut) are found by the kernel: TCP keep-alive probes
//! on every connection, HTTP/1.1 and HTTP/2 alike, instead of hyper's HTTP/2 PING frames,
//! whose bookkeeping ran on every poll of every HTTP/2 connection (about 1.2% of the
//! instructions of an HTTP/2 request). The same timeout ends connections to a peer whose
//! program stopped reading while a response was sent to it (its kernel keeps answering with a
//! closed window): Linux gives up probing a zero window after `TCP_USER_TIMEOUT` too, which
//! is what nginx's `send_timeout` is for.

use std::io;
use std::time::Duration;

use tokio::net::TcpListener;

/// How long a gone peer has to answer a keep-alive probe, and the gap between probes.
const PROBE_ANSWER: Duration = Duration::from_secs(20);

/// Dead-peer detection for the connections `listener` accepts (Linux copies these options
/// from the listening socket to each accepted one: nothing is set per connection): once a
/// connection has carried nothing for `idle`, the kernel sends TCP keep-alive probes, one
/// every [`PROBE_ANSWER`], and closes the connection when the peer has answered nothing for
/// `idle` + [`PROBE_ANSWER`] (`TCP_USER_TIMEOUT`; it bounds data the peer leaves
/// unacknowledged just as long). A live peer's kernel answers the probes, even while its
/// program waits for a slow response. Reads then fail and the connection ends as if closed.
pub(super) fn probe_dead_peers(listener: &TcpListener, idle: Duration) -> io::Result<()> {
    probe_with(listener, idle, PROBE_ANSWER)
}

/// [`probe_dead_peers`] with `answer` for [`PROBE_ANSWER`] (whole seconds).
fn probe_with(listener: &TcpListener, idle: Duration, answer: Duration) -> io::Result<()> {
    // TCP_KEEPIDLE takes whole seconds, 1 to 32767.
    let idle = idle.clamp(Duration::from_secs(1), Duration::from_secs(32_767));
    let socket = socket2::SockRef::from(listener);
    socket.set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(answer)
            .with_retries(3),
    )?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(idle + answer))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_inherit_the_dead_peer_probes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        probe_dead_peers(&listener, Duration::from_secs(7)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (accepted, _) = accepted.unwrap();
        // Read back from the kernel, on the accepted socket: nothing set it but the listener.
        let socket = socket2::SockRef::from(&accepted);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), PROBE_ANSWER);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
        #[cfg(target_os = "linux")]
        assert_eq!(
            socket.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(27))
        );
    }

    #[tokio::test]
    async fn probe_times_are_kept_within_what_the_kernel_takes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        // Below a second (TCP_KEEPIDLE is in whole seconds, at least 1).
        probe_dead_peers(&listener, Duration::from_millis(200)).unwrap();
        let socket = socket2::SockRef::from(&listener);
        assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(1));
        probe_dead_peers(&listener, Duration::from_secs(1 << 20)).unwrap();
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(32_767)
        );
    }

    /// A client that stops reading: its kernel acknowledges with a closed window and answers
    /// every window probe, so keep-alive never starts; `TCP_USER_TIMEOUT` still ends the
    /// connection (here after 1 s idle + 1 s), and the write waiting on it fails.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_peer_that_stops_reading_is_cut_off() {
        use tokio::io::AsyncWriteExt;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        probe_with(&listener, Duration::from_secs(1), Duration::from_secs(1)).unwrap();
        let addr = listener.local_addr().unwrap();
        let client =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        client.connect(&addr.into()).unwrap();
        let (mut accepted, _) = listener.accept().await.unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let sending = async {
            loop {
                if let Err(e) = accepted.write_all(&chunk).await {
                    return e;
                }
            }
        };
        // The bound only keeps a failing run from hanging; the kernel cuts off after about 2 s.
        let error = tokio::time::timeout(Duration::from_secs(60), sending)
            .await
            .expect("the write to a peer that does not read never failed");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        drop(client);
    }
}
