//! A request head as the upstream reads it, and a response head parsed (`httparse`) into a
//! `Response`, its body's framing (RFC 9112 §6.3) and whether the connection can be reused.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};

use super::LeanError;
use super::framing::Framing;
use crate::upstream::headers::Added;

/// At most this many response header fields.
const MAX_HEADERS: usize = 128;

/// The request line, the client's headers, then the gateway's.
pub(super) fn encode_head(parts: &http::request::Parts, added: &Added, out: &mut Vec<u8>) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in parts.headers.iter().chain(added.iter()) {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Parse a response head at the start of `buf`: `None` if incomplete; informational (1xx)
/// responses are consumed and skipped. The head's bytes are split off `buf`.
pub(super) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<(Response<()>, Framing, bool)>, LeanError> {
    loop {
        // Left uninitialised: zeroing 128 fields (4 KiB) was most of this function's cost.
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let parsing = httparse::ParserConfig::default();
        let len = match parsing.parse_response_with_uninit_headers(&mut parsed, buf, &mut fields) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(LeanError::Head(e.to_string())),
        };
        let code = parsed.code.unwrap_or(0);
        if (100..200).contains(&code) {
            if code == 101 {
                return Err(LeanError::Head("unexpected 101".to_owned()));
            }
            let _ = buf.split_to(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|e| LeanError::Head(e.to_string()))?;
        let http11 = parsed.version == Some(1);
        // Header values are taken as slices of the head's bytes, not copied.
        let base = buf.as_ptr() as usize;
        let spans: Vec<(HeaderName, std::ops::Range<usize>)> = parsed
            .headers
            .iter()
            .map(|h| {
                let name = HeaderName::from_bytes(h.name.as_bytes())
                    .map_err(|e| LeanError::Head(e.to_string()))?;
                let start = h.value.as_ptr() as usize - base;
                Ok((name, start..start + h.value.len()))
            })
            .collect::<Result<_, LeanError>>()?;
        let head = buf.split_to(len).freeze();
        let mut headers = HeaderMap::with_capacity(spans.len());
        // What framing and reuse depend on, noted while the map is built (looking each up
        // afterwards hashed three names per response): the last Transfer-Encoding value, the
        // Content-Length values (one, nearly always: no list is allocated for it), whether
        // any Connection value lists `close`.
        let mut transfer_encoding = None;
        let mut first_length = None;
        let mut more_lengths = Vec::new();
        let mut close = false;
        for (name, span) in spans {
            if name == header::TRANSFER_ENCODING {
                transfer_encoding = Some(span.clone());
            } else if name == header::CONTENT_LENGTH {
                match first_length {
                    None => first_length = Some(span.clone()),
                    Some(_) => more_lengths.push(span.clone()),
                }
            } else if name == header::CONNECTION {
                close |= head[span.clone()]
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
            let value = HeaderValue::from_maybe_shared(head.slice(span))
                .map_err(|e| LeanError::Head(e.to_string()))?;
            headers.append(name, value);
        }
        let one: [&[u8]; 1];
        let several: Vec<&[u8]>;
        let lengths: &[&[u8]] = match first_length {
            None => &[],
            Some(first) if more_lengths.is_empty() => {
                one = [&head[first]];
                &one
            }
            Some(first) => {
                several = std::iter::once(first)
                    .chain(more_lengths)
                    .map(|r| &head[r])
                    .collect();
                &several
            }
        };
        let te = transfer_encoding.map(|r| &head[r]);
        let framing = Framing::of_response(head_request, code, te, lengths)?;
        let reusable = http11 && !close && framing != Framing::Close;
        let mut resp = Response::new(());
        *resp.status_mut() = status;
        *resp.version_mut() = Version::HTTP_11;
        *resp.headers_mut() = headers;
        return Ok(Some((resp, framing, reusable)));
    }
}

#[cfg(test)]
mod tests {
    use super::super::framing::Chunked;
    use super::*;

    /// Parse `head` (with a blank line added) as a response to a GET.
    fn parse(head: &str) -> Result<(Framing, bool, HeaderMap), LeanError> {
        let mut buf = BytesMut::from(format!("{head}\r\n\r\nrest").as_bytes());
        let (resp, framing, reusable) = parse_head(&mut buf, false)?.expect("complete head");
        assert_eq!(&buf[..], b"rest", "the head's bytes are split off");
        Ok((framing, reusable, resp.headers().clone()))
    }

    #[test]
    fn framing_and_reuse_come_from_the_head() {
        let ok = |head: &str| parse(head).map(|(f, r, _)| (f, r)).ok();
        let length = "HTTP/1.1 200 OK\r\nContent-Length: 5";
        assert_eq!(ok(length), Some((Framing::Length(5), true)));
        let twice = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\ncontent-length: 5";
        assert_eq!(ok(twice), Some((Framing::Length(5), true)));
        let listed = "HTTP/1.1 200 OK\r\nContent-Length: 5, 5";
        assert_eq!(ok(listed), Some((Framing::Length(5), true)));
        assert_eq!(
            ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6"),
            None
        );
        let chunked_last =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked";
        assert_eq!(
            ok(chunked_last),
            Some((Framing::Chunked(Chunked::Size), true))
        );
        let chunked_first =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip";
        assert_eq!(ok(chunked_first), Some((Framing::Close, false)));
        let both = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5";
        assert!(matches!(parse(both), Err(LeanError::Framing(_))));
        let closing = "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 5";
        assert_eq!(ok(closing), Some((Framing::Length(5), false)));
        let kept = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5";
        assert_eq!(ok(kept), Some((Framing::Length(5), true)));
        assert_eq!(
            ok("HTTP/1.0 200 OK\r\nContent-Length: 5"),
            Some((Framing::Length(5), false))
        );
        assert_eq!(ok("HTTP/1.1 204 No Content"), Some((Framing::Empty, true)));
    }

    #[test]
    fn header_values_are_kept_as_sent() {
        let (_, _, headers) =
            parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: two words").unwrap();
        let values: Vec<&[u8]> = headers
            .get_all("x-a")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(values, [&b"1"[..], b"two words"]);
        assert_eq!(headers[header::CONTENT_LENGTH], "2");
    }
}
