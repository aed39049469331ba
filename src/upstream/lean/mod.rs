//! Our own HTTP/1.1 client for a client connection's own upstream connections (one for an
//! HTTP/1 client, one per concurrent stream for an HTTP/2 client).
//!
//! hyper's client runs each connection in a task of its own and hands every request, response
//! head and body chunk between that task and the client connection's task through channels; on
//! the load benchmark that machinery cost more than the whole authorization decision. Here the
//! client connection's task writes the request itself and reads the response as the client side
//! asks for it: request head out, response head parsed with `httparse`, response body framed per
//! RFC 9112 §6.3 (length, chunked, or to close). Only requests without a body come here (GETs:
//! the bulk of API traffic and all of a monitoring system's); requests with a body go through
//! hyper, which reads an early answer while still sending; upgrades stay on hyper too. An HTTP/2
//! stream's task speaks to its upstream connection the same way, which is what put HTTP/2 on a
//! par with HTTP/1 (hyper's pool had cost them as much as above, plus a lock shared by all).

mod framing;
#[doc(hidden)]
pub mod fuzz_api;
mod head;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::{Method, Response};
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use self::framing::{Framing, Step};
use self::head::{encode_head, parse_head};
use super::headers::Added;
use crate::body::{Body, BodyError};

/// A response head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;
/// Read size.
const READ_CHUNK: usize = 16 * 1024;

/// The I/O of an upstream connection (TCP, or TLS over TCP).
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// One upstream connection, idle between requests.
pub(super) struct LeanConn {
    /// The endpoint it is connected to ([`super::Endpoint`]'s id).
    origin: u64,
    wire: Wire,
    /// When the exchange in progress times out: one timer for the connection's life, moved to
    /// each request's deadline. Moving a registered timer later is a compare-and-swap in tokio,
    /// where a timer per request was inserted into the timer wheel and removed again, each
    /// under the wheel's lock.
    deadline: Pin<Box<Sleep>>,
}

/// The bytes of an upstream connection.
struct Wire {
    io: Box<dyn Io>,
    /// Bytes read but not yet used.
    buf: BytesMut,
    /// What each read fills.
    scratch: Box<[u8]>,
    /// The request head being sent, kept with its capacity for the connection's next request
    /// (an allocation per request otherwise).
    head: Vec<u8>,
}

/// At most this many idle upstream connections per client connection. A connection is only
/// opened when no idle one is free, so a client connection never holds more idle ones than it
/// ran streams at once (an HTTP/1 connection: one); the cap only stops one that ran more than
/// this (hyper allows 200 streams at once) from keeping them all. Kept, they spare the next
/// burst a connect each and the gateway a socket in `TIME_WAIT` each (with 16, `h2load -m100`
/// left 14k sockets in `TIME_WAIT` in 5 s).
const MAX_IDLE: usize = 128;

/// Where a client connection keeps its idle upstream connections, most recently used last. A
/// connection is out of the slot while a response is being read on it: the response body owns
/// it until it is complete. Each client connection has its own slot, so the lock is only ever
/// taken by that connection's requests (on one worker thread, per core).
#[derive(Default)]
pub struct LeanSlot(Arc<Mutex<Vec<LeanConn>>>);

impl std::fmt::Debug for LeanSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeanSlot(..)")
    }
}

/// A failed exchange.
#[derive(Debug, thiserror::Error)]
pub(super) enum LeanError {
    #[error("upstream i/o: {0}")]
    Io(#[from] io::Error),
    #[error("upstream closed the connection before answering")]
    ClosedEarly,
    #[error("invalid upstream response: {0}")]
    Head(String),
    #[error("invalid upstream response body: {0}")]
    Framing(#[from] framing::FramingError),
    #[error("upstream did not answer in time")]
    Deadline,
}

impl LeanError {
    /// Whether the request may be sent again on a new connection: a reused connection the
    /// upstream had closed, before any answer.
    pub(super) fn stale(&self) -> bool {
        match self {
            LeanError::ClosedEarly => true,
            LeanError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

impl LeanSlot {
    /// The endpoint the most recently used idle connection is connected to, if there is one.
    pub(super) fn origin(&self) -> Option<u64> {
        lock(&self.0).last().map(|c| c.origin)
    }

    /// The most recently used idle connection to endpoint `origin` that is still open (an
    /// upstream that closed it while idle has made it readable: checked without blocking and
    /// without a syscall when it has not). Closed ones met on the way are dropped.
    pub(super) fn take_open(&self, origin: u64) -> Option<LeanConn> {
        let mut idle = lock(&self.0);
        while let Some(at) = idle.iter().rposition(|c| c.origin == origin) {
            let mut conn = idle.remove(at);
            if conn.still_open() {
                return Some(conn);
            }
        }
        None
    }
}

impl LeanConn {
    /// Whether the idle connection can take a request: not closed by the upstream, no stray
    /// bytes, no error.
    fn still_open(&mut self) -> bool {
        let mut scratch = [0u8; 1];
        let mut read = ReadBuf::new(&mut scratch);
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut self.wire.io)
            .poll_read(&mut cx, &mut read)
            .is_pending()
    }

    /// A fresh connection over `io` to endpoint `origin`, for a request due by `deadline`.
    pub(super) fn new(io: Box<dyn Io>, origin: u64, deadline: Instant) -> LeanConn {
        LeanConn {
            origin,
            wire: Wire {
                io,
                buf: BytesMut::with_capacity(READ_CHUNK),
                scratch: vec![0; READ_CHUNK].into_boxed_slice(),
                head: Vec::with_capacity(512),
            },
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Send the request, which has no body (origin-form URI, hop-by-hop headers gone; `added`
    /// holds the gateway's headers and `Host`), and read the response head by `deadline`; the
    /// response body streams from this connection, which goes back to `slot` once the body is
    /// complete and the connection reusable.
    pub(super) async fn exchange(
        mut self,
        parts: &http::request::Parts,
        added: &Added,
        slot: &LeanSlot,
        deadline: Instant,
    ) -> Result<Response<Body>, LeanError> {
        self.deadline.as_mut().reset(deadline);
        let (resp, framing, reusable) = tokio::select! {
            biased;
            head = self.wire.send_and_read_head(parts, added) => head?,
            () = self.deadline.as_mut() => return Err(LeanError::Deadline),
        };
        let slot = slot.0.clone();
        if framing.is_done() {
            self.give_back(&slot, reusable);
            return Ok(resp.map(|()| crate::body::full(Bytes::new())));
        }
        let body = LeanBody {
            conn: Some(self),
            framing,
            reusable,
            slot,
        };
        Ok(resp.map(|()| body.boxed_unsync()))
    }

    /// A response is complete: the connection goes back for the next request if it can be
    /// reused and nothing beyond the response arrived.
    fn give_back(self, slot: &Mutex<Vec<LeanConn>>, reusable: bool) {
        if reusable && self.wire.buf.is_empty() {
            let mut idle = lock(slot);
            if idle.len() >= MAX_IDLE {
                // The least recently used goes.
                idle.remove(0);
            }
            idle.push(self);
        }
    }
}

impl Wire {
    /// Send the request head and read the response's.
    async fn send_and_read_head(
        &mut self,
        parts: &http::request::Parts,
        added: &Added,
    ) -> Result<(Response<()>, Framing, bool), LeanError> {
        self.head.clear();
        encode_head(parts, added, &mut self.head);
        self.io.write_all(&self.head).await?;
        self.io.flush().await?;
        self.read_head(parts.method == Method::HEAD).await
    }

    /// Read until a final (non-1xx) response head is complete.
    async fn read_head(
        &mut self,
        head_request: bool,
    ) -> Result<(Response<()>, Framing, bool), LeanError> {
        let mut received = false;
        loop {
            if !self.buf.is_empty() {
                received = true;
                if let Some(parsed) = parse_head(&mut self.buf, head_request)? {
                    return Ok(parsed);
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(LeanError::Head("head too large".to_owned()));
                }
            }
            if self.read_more().await? == 0 {
                return Err(if received {
                    LeanError::Head("connection closed inside the head".to_owned())
                } else {
                    LeanError::ClosedEarly
                });
            }
        }
    }

    async fn read_more(&mut self) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_more(cx)).await
    }

    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Read into the connection's scratch buffer, then copy: safe, and the copy is of what
        // arrived (about a response's size), not of the buffer.
        let mut read = ReadBuf::new(&mut self.scratch);
        match Pin::new(&mut self.io).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                let filled = read.filled();
                self.buf.extend_from_slice(filled);
                Poll::Ready(Ok(filled.len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn lock(slot: &Mutex<Vec<LeanConn>>) -> std::sync::MutexGuard<'_, Vec<LeanConn>> {
    // The slot holds no invariant a panic could break.
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// A response body read from its connection as the client side asks for it.
struct LeanBody {
    /// `None` once the body is complete.
    conn: Option<LeanConn>,
    framing: Framing,
    reusable: bool,
    slot: Arc<Mutex<Vec<LeanConn>>>,
}

impl LeanBody {
    /// The body is complete: the connection goes back for the next request, if it can.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.give_back(&self.slot, self.reusable);
        }
    }
}

impl hyper::body::Body for LeanBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match this.framing.step(&mut conn.wire.buf) {
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Box::new(LeanError::from(e)))));
                }
                Ok(Step::Data(data)) => {
                    if this.framing.is_done() {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Step::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => {}
            }
            match conn.wire.poll_read_more(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) if this.framing == Framing::Close => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(0)) => {
                    this.conn = None;
                    let e =
                        io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed mid-body");
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.framing.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Empty => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
