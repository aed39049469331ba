//! What keeps idle or slow clients from holding connections: a deadline for the TLS handshake
//! plus the first request of a new connection, and an idle deadline between requests (HTTP/1.1
//! keep-alive and HTTP/2 alike).
//!
//! The deadlines live in the connection's I/O ([`IdleIo`]): when one passes while no request
//! is in flight, reads see end-of-file and hyper closes the connection as if the client had.
//! On HTTP/1 the header-read deadline is one of them ([`Activity::speaks_http1`]), so hyper
//! arms no timer of its own per request.
//! Requests are counted in flight from their arrival until their response body is complete
//! ([`Activity::track`]); an upgraded (WebSocket) connection is never timed out here.
//! Peers that are gone are found by the kernel (`dead_peers`), too many connections from one
//! source refused by `per_source`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::Waker;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::proxy::{Body, BodyError};

/// One connection's request activity, shared by its I/O and its requests.
#[derive(Debug)]
pub struct Activity {
    /// When the connection was accepted.
    start: Instant,
    /// Milliseconds after `start` of the last request start or response end.
    last_ms: AtomicU64,
    in_flight: AtomicU32,
    served_any: AtomicBool,
    upgraded: AtomicBool,
    first: Duration,
    idle: Duration,
    /// `header_read_timeout` (at least 1 ms), for when the connection speaks HTTP/1.
    head_read: Duration,
    /// Whether the connection speaks HTTP/1 (not known before its first request).
    http1: AtomicBool,
    /// The shortest of the three timeouts (at least 1 ms): the timer is never armed further
    /// ahead than this (see [`IdleIo`]).
    cap: Duration,
}

/// The least a timeout is taken to be.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// What the deadline check found.
enum Check {
    /// Idle past its deadline: close.
    Expired,
    /// A request is in flight (or the connection upgraded): no deadline; look again then.
    Busy(Instant),
    /// Idle; the deadline.
    At(Instant),
}

impl Activity {
    /// A connection accepted now: the first request must arrive within `first`, later ones
    /// within `idle` of the previous response; on HTTP/1 each head also within `head_read`
    /// ([`Activity::speaks_http1`]).
    pub fn new(first: Duration, idle: Duration, head_read: Duration) -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            served_any: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            first,
            idle,
            head_read: head_read.max(MIN_TIMEOUT),
            http1: AtomicBool::new(false),
            // A zero timeout would re-arm the timer to now, over and over.
            cap: first.min(idle).min(head_read).max(MIN_TIMEOUT),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// The connection speaks HTTP/1 (its requests say so, before each [`Activity::begin`]):
    /// each request head after the first must be complete within `header_read_timeout` of the
    /// previous response's end (the first one's time is `first_request_timeout`'s). hyper's
    /// own `header_read_timeout` did this with a timer armed and dropped per request (about 2%
    /// of a request's instructions); here it shortens the idle deadline of the connection's
    /// one lazily re-armed timer.
    pub fn speaks_http1(&self) {
        self.http1.store(true, Ordering::Relaxed);
    }

    /// A request arrived; the returned guard ends it when its response body is complete.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.served_any.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// The response, counted in flight until its body ends; a `101` marks the connection
    /// upgraded (its idle time is the upgraded protocol's business).
    pub fn track(&self, resp: Response<Body>, guard: InFlight) -> Response<Body> {
        if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            self.upgraded.store(true, Ordering::Relaxed);
        }
        resp.map(|inner| {
            Tracked {
                inner,
                _guard: guard,
            }
            .boxed_unsync()
        })
    }

    /// How long the connection may wait for its next request: the first within `first` of
    /// the accept; later ones within `idle` of the previous response, on HTTP/1 within the
    /// header-read timeout if that is shorter.
    fn timeout(&self) -> Duration {
        if !self.served_any.load(Ordering::Relaxed) {
            return self.first;
        }
        if self.http1.load(Ordering::Relaxed) {
            self.idle.min(self.head_read)
        } else {
            self.idle
        }
    }

    fn check(&self, now: Instant) -> Check {
        let timeout = self.timeout();
        if self.upgraded.load(Ordering::Relaxed) || self.in_flight.load(Ordering::Relaxed) > 0 {
            return Check::Busy(now + timeout);
        }
        let deadline =
            self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + timeout;
        if now >= deadline {
            Check::Expired
        } else {
            Check::At(deadline)
        }
    }
}

/// A request in flight; dropped when its response body is done (or abandoned).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body holding its request's [`InFlight`].
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's I/O whose reads end (EOF) once the connection has been idle past its
/// deadline.
///
/// The deadline is checked when a read must wait, and the timer wakes the connection to
/// check it again. The timer is never armed further ahead than the shortest timeout
/// ([`Activity`]'s `cap`): any deadline that appears later (a request ending: its next head
/// due within the keep-alive or header-read timeout) is then no earlier than the timer, which
/// matters because an idle HTTP/1 connection is not read (so not checked) until something
/// wakes it. Between timer runs a waiting read needs no check at all.
pub struct IdleIo<T> {
    inner: T,
    activity: Arc<Activity>,
    timer: Pin<Box<Sleep>>,
    /// The waker the timer was last polled with: while it still wakes this task and the
    /// timer has not run out, a read that must wait returns at once (the check and the timer's
    /// poll cost about 0.3k instructions, three times per HTTP/1 request).
    armed: Option<Waker>,
}

impl<T> IdleIo<T> {
    /// Wrap `inner`; the first deadline runs from the connection's acceptance.
    pub fn new(inner: T, activity: Arc<Activity>) -> IdleIo<T> {
        let timer = Box::pin(tokio::time::sleep_until(activity.start + activity.cap));
        IdleIo {
            inner,
            activity,
            timer,
            armed: None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            return Poll::Ready(r);
        }
        let armed = this.armed.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if armed && !this.timer.is_elapsed() {
            return Poll::Pending;
        }
        // The deadline moves with each request, nearly always later: the timer is then left
        // where it is and re-armed when it runs out (a few timer operations per idle period,
        // not per request). It is reset at once only to an earlier deadline.
        let now = Instant::now();
        let furthest = now + this.activity.cap;
        match this.activity.check(now) {
            // End of file: nothing filled.
            Check::Expired => return Poll::Ready(Ok(())),
            Check::Busy(next) if this.timer.is_elapsed() => {
                this.timer.as_mut().reset(next.min(furthest))
            }
            Check::Busy(_) => {}
            Check::At(at) if this.timer.is_elapsed() || at < this.timer.deadline() => {
                this.timer.as_mut().reset(at.min(furthest))
            }
            Check::At(_) => {}
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            // Ran out: look again on the next poll.
            cx.waker().wake_by_ref();
            this.armed = None;
        } else {
            this.armed = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    /// When the connection closes unless a request comes (`None`: busy or already expired).
    fn deadline(a: &Activity) -> Option<Instant> {
        match a.check(Instant::now()) {
            Check::At(at) => Some(at),
            Check::Expired | Check::Busy(_) => None,
        }
    }

    /// One request that takes `took`, from now.
    async fn serve_one(a: &Arc<Activity>, took: Duration) {
        let in_flight = a.begin();
        tokio::time::advance(took).await;
        drop(in_flight);
    }

    #[tokio::test(start_paused = true)]
    async fn http1_heads_are_due_within_the_header_read_timeout() {
        let a = Activity::new(FIRST, IDLE, Duration::from_secs(30));
        let start = a.start;
        // The handshake took 2 s; the first request's own deadline is the earlier one.
        tokio::time::advance(Duration::from_secs(2)).await;
        a.speaks_http1();
        assert_eq!(deadline(&a), Some(start + FIRST));
        serve_one(&a, Duration::from_secs(1)).await;
        // The next head is due 30 s after the response (not the 60 s keep-alive).
        assert_eq!(deadline(&a), Some(start + Duration::from_secs(33)));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(matches!(a.check(Instant::now()), Check::Expired));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_head_has_the_first_request_timeout_alone() {
        let a = Activity::new(FIRST, IDLE, Duration::from_secs(1));
        let start = a.start;
        tokio::time::advance(Duration::from_secs(2)).await;
        a.speaks_http1();
        assert_eq!(deadline(&a), Some(start + FIRST));
        serve_one(&a, Duration::from_secs(1)).await;
        assert_eq!(deadline(&a), Some(start + Duration::from_secs(4)));
        // Told again (each request says so), nothing moves.
        tokio::time::advance(Duration::from_millis(500)).await;
        a.speaks_http1();
        assert_eq!(deadline(&a), Some(start + Duration::from_secs(4)));
    }

    /// Once a request ends, the connection closes when its next head is due, though nothing
    /// reads it in between (hyper does not read an idle HTTP/1 connection): the timer wakes it
    /// in time, whether the request outlasted the first-request timer (which ran out and was
    /// re-armed meanwhile) or ended long before it.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_read_ends_when_the_next_head_is_due() {
        use tokio::io::AsyncReadExt;
        for (first_ms, request_ms) in [(1_000, 1_500), (10_000, 500)] {
            let a = Activity::new(
                Duration::from_millis(first_ms),
                Duration::from_secs(6),
                Duration::from_secs(2),
            );
            a.speaks_http1();
            let (_client, server) = tokio::io::duplex(64);
            let mut io = IdleIo::new(server, a.clone());
            let in_flight = a.begin();
            let started = Instant::now();
            let read = tokio::spawn(async move {
                let mut byte = [0u8; 1];
                io.read(&mut byte).await.map(|n| (n, Instant::now()))
            });
            tokio::time::sleep(Duration::from_millis(request_ms)).await;
            drop(in_flight);
            let (n, ended) = read.await.unwrap().unwrap();
            assert_eq!(n, 0, "end of file");
            let due = Duration::from_millis(request_ms + 2_000);
            let after = ended - started;
            assert!(
                after >= due && after < due + Duration::from_millis(100),
                "first {first_ms} ms, request {request_ms} ms: closed after {after:?}, due {due:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn http2_keeps_only_the_keep_alive_deadline() {
        let a = Activity::new(FIRST, IDLE, Duration::from_secs(1));
        let start = a.start;
        serve_one(&a, Duration::from_secs(1)).await;
        assert_eq!(deadline(&a), Some(start + Duration::from_secs(61)));
    }
}
