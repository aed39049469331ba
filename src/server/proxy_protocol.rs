//! The PROXY protocol (v1 text and v2 binary, HAProxy's): a load balancer that passes TCP
//! through writes the client's address in a header before anything else on the connection.
//! Parsing is the `ppp` crate's; here the header is read with a size bound, and the bytes read
//! past it (the start of the TLS handshake or HTTP request) are handed back through
//! [`Prefixed`]. The caller bounds the time ([`crate::config::gateway::Limits`]'s handshake
//! timeout) and checks the peer is a trusted proxy before believing anything read here.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The longest header read: a v1 header is at most 107 bytes; a v2 header is 16 bytes plus
/// addresses (at most 216) and TLVs, which HAProxy and the cloud balancers keep far below this.
pub const MAX_HEADER_BYTES: usize = 4096;

/// The connection did not start with a usable PROXY header.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("connection closed before a complete PROXY header")]
    Closed,
    #[error("no PROXY header: {0}")]
    Invalid(String),
    #[error("PROXY header longer than {MAX_HEADER_BYTES} bytes")]
    TooLong,
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

/// Read the header at the start of `io`. The source address it gives, or `None` when it names
/// none (v2 `LOCAL`, such as a balancer's health check, `UNKNOWN`, unix sockets): the
/// connection is then the peer's own. Bytes after the header stay readable through the
/// returned [`Prefixed`].
pub async fn read_header<T: AsyncRead + Unpin>(
    mut io: T,
) -> Result<(Option<SocketAddr>, Prefixed<T>), ProxyHeaderError> {
    // One read usually brings the whole header (senders write it in one segment).
    let mut buf = Vec::with_capacity(256);
    loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= MAX_HEADER_BYTES {
                return Err(ProxyHeaderError::TooLong);
            }
            buf.reserve(buf.len().min(MAX_HEADER_BYTES - buf.len()));
        }
        if io.read_buf(&mut buf).await? == 0 {
            return Err(ProxyHeaderError::Closed);
        }
        let parsed = HeaderResult::parse(&buf);
        if parsed.is_incomplete() {
            continue;
        }
        let (len, source) = match parsed {
            HeaderResult::V1(Ok(h)) => (h.header.len(), v1_source(&h.addresses)),
            HeaderResult::V2(Ok(h)) => (h.len(), v2_source(&h)),
            HeaderResult::V1(Err(e)) => return Err(ProxyHeaderError::Invalid(e.to_string())),
            HeaderResult::V2(Err(e)) => return Err(ProxyHeaderError::Invalid(e.to_string())),
        };
        buf.drain(..len);
        return Ok((source, Prefixed::new(buf, io)));
    }
}

fn v1_source(addresses: &v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    }
}

fn v2_source(header: &v2::Header<'_>) -> Option<SocketAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match &header.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

/// A stream whose first bytes were already read: they are returned first.
#[derive(Debug)]
pub struct Prefixed<T> {
    prefix: Vec<u8>,
    at: usize,
    inner: T,
}

impl<T> Prefixed<T> {
    fn new(prefix: Vec<u8>, inner: T) -> Prefixed<T> {
        Prefixed {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.prefix.len() {
            let rest = &this.prefix[this.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
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

    /// Feed `input` in `chunk`-byte writes; the source and what is left to read after it.
    async fn parse(input: &[u8], chunk: usize) -> Result<(Option<SocketAddr>, Vec<u8>), String> {
        let (mut tx, rx) = tokio::io::duplex(64);
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for c in input.chunks(chunk) {
                if tx.write_all(c).await.is_err() {
                    return;
                }
            }
        });
        let (source, mut rest) = read_header(rx).await.map_err(|e| e.to_string())?;
        let mut left = Vec::new();
        rest.read_to_end(&mut left).await.unwrap();
        writer.await.unwrap();
        Ok((source, left))
    }

    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut h = v2::PROTOCOL_PREFIX.to_vec();
        h.push(0x20 | command);
        h.push(family);
        let len = u16::try_from(addresses.len() + tlvs.len()).unwrap();
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(addresses);
        h.extend_from_slice(tlvs);
        h
    }

    #[tokio::test]
    async fn headers_and_what_follows() {
        let addr = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        let v4 = [192, 0, 2, 7, 10, 0, 0, 1, 0xd4, 0x31, 0x01, 0xbb];
        let mut v6 = [0u8; 36];
        v6[..16].copy_from_slice(
            &"2001:db8::9"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6[32..].copy_from_slice(&[0x00, 0x50, 0x01, 0xbb]);
        let tlv = [0x04, 0x00, 0x03, b'a', b'b', b'c'];
        let cases: Vec<(Vec<u8>, Option<SocketAddr>)> = vec![
            (
                b"PROXY TCP4 198.51.100.1 10.0.0.1 40000 8006\r\n".to_vec(),
                addr("198.51.100.1:40000"),
            ),
            (
                b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 8006\r\n".to_vec(),
                addr("[2001:db8::1]:40000"),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), None),
            (v2(1, 0x11, &v4, &[]), addr("192.0.2.7:54321")),
            (v2(1, 0x11, &v4, &tlv), addr("192.0.2.7:54321")),
            (v2(1, 0x21, &v6, &[]), addr("[2001:db8::9]:80")),
            // LOCAL (a health check): the peer's own connection, whatever the addresses say.
            (v2(0, 0x11, &v4, &[]), None),
            (v2(0, 0x00, &[], &[]), None),
        ];
        for (header, want) in cases {
            for chunk in [1, 5, header.len() + 20] {
                let mut input = header.clone();
                input.extend_from_slice(b"\x16\x03\x01 rest");
                let got = parse(&input, chunk).await;
                assert_eq!(
                    got,
                    Ok((want, b"\x16\x03\x01 rest".to_vec())),
                    "{header:?} in {chunk}-byte pieces"
                );
            }
        }
    }

    #[tokio::test]
    async fn refused() {
        let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec();
        let big = v2(1, 0x11, &[0; 12], &vec![0u8; MAX_HEADER_BYTES]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("a TLS hello", tls_hello),
            (
                "an HTTP request",
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            (
                "v1 garbage address",
                b"PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n".to_vec(),
            ),
            ("v1 without CRLF", vec![b'P'; 200]),
            ("v2 bad version", {
                let mut h = v2(1, 0x11, &[0; 12], &[]);
                h[12] = 0x31;
                h
            }),
            ("v2 over the size bound", big),
            ("cut short", b"PROXY TCP4 198.51".to_vec()),
            ("empty", Vec::new()),
        ];
        for (name, input) in cases {
            assert!(parse(&input, 7).await.is_err(), "{name} accepted");
        }
    }
}
