//! How an upstream response body ends (RFC 9112 §6.3) and the chunked transfer coding decoder
//! (§7.1). The decoder works on whatever bytes have arrived so far and says how many more it
//! needs, so it never blocks on a partial chunk header.

use bytes::{Buf, Bytes, BytesMut};

/// A chunk-size line or trailer line longer than this is refused (no sane upstream sends one).
const MAX_LINE: usize = 4096;
/// All trailer lines together.
const MAX_TRAILERS: usize = 16 * 1024;

/// The response body's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// `Content-Length` bytes left.
    Length(u64),
    /// Chunked: decoding state.
    Chunked(Chunked),
    /// Until the upstream closes the connection (no length, not chunked).
    Close,
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data: bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines (discarded) up to the empty line; bytes seen so far.
    Trailers(usize),
    /// The final empty line has been read.
    Done,
}

/// A malformed body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FramingError {
    #[error("invalid chunk size line")]
    ChunkSize,
    #[error("missing CRLF after chunk data")]
    ChunkEnd,
    #[error("chunk trailers too long")]
    Trailers,
    #[error("invalid content-length")]
    ContentLength,
    #[error("both transfer-encoding and content-length")]
    Ambiguous,
}

/// What one decoding step produced.
#[derive(Debug)]
pub(super) enum Step {
    /// Body data.
    Data(Bytes),
    /// Nothing decodable in the buffer yet: read more.
    NeedMore,
    /// The body has ended.
    End,
}

impl Framing {
    /// The framing of a response to a request with `method`, per RFC 9112 §6.3. `chunked` is
    /// whether the final transfer coding is chunked, `length` the Content-Length values.
    pub(super) fn of_response(
        head_request: bool,
        status: u16,
        transfer_encoding: Option<&[u8]>,
        content_length: &[&[u8]],
    ) -> Result<Framing, FramingError> {
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::Empty);
        }
        if let Some(te) = transfer_encoding {
            if !content_length.is_empty() {
                // A response with both is a smuggling vector: refuse rather than guess.
                return Err(FramingError::Ambiguous);
            }
            let last = te.rsplit(|b| *b == b',').next().unwrap_or(te);
            return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked(Chunked::Size)
            } else {
                Framing::Close
            });
        }
        if content_length.is_empty() {
            return Ok(Framing::Close);
        }
        // Several Content-Length fields, or a comma list in one, are fine only if every value
        // is the same (RFC 9110 §8.6).
        let mut length = None;
        for value in content_length.iter().flat_map(|v| v.split(|b| *b == b',')) {
            let n = decimal(value.trim_ascii()).ok_or(FramingError::ContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(FramingError::ContentLength);
            }
            length = Some(n);
        }
        Ok(match length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        })
    }

    /// Whether the body is complete.
    pub(super) fn is_done(&self) -> bool {
        matches!(self, Framing::Empty | Framing::Chunked(Chunked::Done))
            || *self == Framing::Length(0)
    }

    /// Take the next piece of body from `buf`. At end of input (`eof`), a close-delimited body
    /// ends; any other unfinished body is an error the caller reports.
    pub(super) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        match self {
            Framing::Empty => Ok(Step::End),
            Framing::Length(0) => Ok(Step::End),
            Framing::Length(left) => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                Ok(Step::Data(buf.split_to(n).freeze()))
            }
            Framing::Close => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                Ok(Step::Data(buf.split().freeze()))
            }
            Framing::Chunked(state) => state.step(buf),
        }
    }
}

impl Chunked {
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(line) = take_line(buf, MAX_LINE, FramingError::ChunkSize)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    *self = if size == 0 {
                        Chunked::Trailers(0)
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    *self = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    return Ok(Step::Data(data));
                }
                Chunked::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(FramingError::ChunkEnd);
                    }
                    buf.advance(2);
                    *self = Chunked::Size;
                }
                Chunked::Trailers(seen) => {
                    let Some(line) = take_line(buf, MAX_LINE, FramingError::Trailers)? else {
                        return Ok(Step::NeedMore);
                    };
                    if line.is_empty() {
                        *self = Chunked::Done;
                        return Ok(Step::End);
                    }
                    let seen = seen + line.len() + 2;
                    if seen > MAX_TRAILERS {
                        return Err(FramingError::Trailers);
                    }
                    *self = Chunked::Trailers(seen);
                }
                Chunked::Done => return Ok(Step::End),
            }
        }
    }
}

/// Split off one CRLF-terminated line (without the CRLF); `None` if it is not complete yet.
fn take_line(
    buf: &mut BytesMut,
    max: usize,
    too_long: FramingError,
) -> Result<Option<BytesMut>, FramingError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= max => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        Some(_) => Err(too_long),
        None if buf.len() > max => Err(too_long),
        None => Ok(None),
    }
}

/// Digits only (no sign, no space), fitting in a `u64`.
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `chunk-size [ chunk-ext ]`: hex digits, then optionally `;` extensions (ignored).
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let hex = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or(line)
        .trim_ascii();
    if hex.is_empty() {
        return Err(FramingError::ChunkSize);
    }
    // Leading zeros are allowed; more than 16 significant digits would overflow.
    let first = hex.iter().position(|b| *b != b'0').unwrap_or(hex.len());
    let hex = &hex[first..];
    if hex.len() > 16 {
        return Err(FramingError::ChunkSize);
    }
    let mut size: u64 = 0;
    for &b in hex {
        let digit = (b as char).to_digit(16).ok_or(FramingError::ChunkSize)?;
        size = size << 4 | u64::from(digit);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` fed in pieces of `piece` bytes; the data, or the first error.
    fn decode(input: &[u8], piece: usize) -> Result<(Vec<u8>, BytesMut), FramingError> {
        let mut framing = Framing::Chunked(Chunked::Size);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for part in input.chunks(piece) {
            buf.extend_from_slice(part);
            loop {
                match framing.step(&mut buf)? {
                    Step::Data(d) => out.extend_from_slice(&d),
                    Step::NeedMore => break,
                    Step::End => return Ok((out, buf)),
                }
            }
        }
        Err(FramingError::ChunkEnd)
    }

    #[test]
    fn chunked_table() {
        fn check(input: &str, want: Option<&str>) {
            for piece in [1, 2, 3, 7, input.len().max(1)] {
                let got = decode(input.as_bytes(), piece)
                    .ok()
                    .map(|(d, rest)| (String::from_utf8(d).unwrap(), rest.len()));
                assert_eq!(
                    got,
                    want.map(|w| (w.to_owned(), 0)),
                    "decode({input:?}) in pieces of {piece}"
                );
            }
        }
        check("5\r\nhello\r\n0\r\n\r\n", Some("hello"));
        check(
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            Some("hello world"),
        );
        check("A;ext=1\r\n0123456789\r\n0\r\n\r\n", Some("0123456789"));
        check("a\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n", Some("0123456789"));
        check("0\r\n\r\n", Some(""));
        check("5\r\nhelloXX0\r\n\r\n", None);
        check("z\r\nhello\r\n0\r\n\r\n", None);
        check("\r\nhello\r\n0\r\n\r\n", None);
        check("11111111111111111\r\n", None);
        check("00000000000000000005\r\nhello\r\n0\r\n\r\n", Some("hello"));
    }

    #[test]
    fn chunked_leaves_what_follows() {
        let (data, rest) = decode(b"1\r\na\r\n0\r\n\r\nHTTP/1.1", 100).unwrap();
        assert_eq!(data, b"a");
        assert_eq!(&rest[..], b"HTTP/1.1");
    }

    #[test]
    fn framing_table() {
        fn check(head: bool, status: u16, te: Option<&str>, cl: &[&str], want: Option<Framing>) {
            let cl: Vec<&[u8]> = cl.iter().map(|v| v.as_bytes()).collect();
            let got = Framing::of_response(head, status, te.map(str::as_bytes), &cl).ok();
            assert_eq!(got, want, "head={head} status={status} te={te:?} cl={cl:?}");
        }
        check(false, 200, None, &["10"], Some(Framing::Length(10)));
        check(false, 200, None, &["0"], Some(Framing::Empty));
        check(false, 200, None, &["10", "10"], Some(Framing::Length(10)));
        check(false, 200, None, &["10", "11"], None);
        check(false, 200, None, &["10, 10"], Some(Framing::Length(10)));
        check(false, 200, None, &["10, 11"], None);
        check(false, 200, None, &["10,"], None);
        check(false, 200, None, &["-1"], None);
        check(false, 200, None, &["+1"], None);
        check(false, 200, None, &[], Some(Framing::Close));
        let chunked = Some(Framing::Chunked(Chunked::Size));
        check(false, 200, Some("chunked"), &[], chunked);
        check(false, 200, Some("gzip, Chunked"), &[], chunked);
        check(false, 200, Some("gzip"), &[], Some(Framing::Close));
        check(false, 200, Some("chunked"), &["5"], None);
        check(true, 200, None, &["10"], Some(Framing::Empty));
        check(false, 204, None, &[], Some(Framing::Empty));
        check(false, 304, None, &["10"], Some(Framing::Empty));
    }
}
