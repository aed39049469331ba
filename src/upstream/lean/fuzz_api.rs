//! The lean client's response framing driven from outside the crate, for the fuzz targets
//! (`fuzz/`, docs/fuzzing.md): the same [`Framing`] decisions and decoder steps the client makes,
//! over bytes that arrive in pieces of chosen sizes. Not an API: hidden from the docs.

use bytes::BytesMut;

use super::framing::{Framing, Step};

/// What decoding one response body gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The head's framing headers were refused.
    BadHead,
    /// The body was refused after `data` was handed on.
    BadBody {
        /// The body data passed on before the error.
        data: Vec<u8>,
    },
    /// The input ended before the body did (the client reports "closed mid-body").
    Truncated {
        /// The body data passed on.
        data: Vec<u8>,
    },
    /// The body ended.
    Complete {
        /// The body data.
        data: Vec<u8>,
        /// The bytes after the body's end (the next response on a reused connection).
        rest: Vec<u8>,
    },
}

/// Frame a response as the lean client does: the framing from the head (`head_request`,
/// `status`, the last `Transfer-Encoding` value, every `Content-Length` value), then the body
/// decoded from `input` arriving in pieces whose sizes cycle through `pieces` (0 counts as 1);
/// the end of `input` is the upstream closing the connection.
pub fn decode_response(
    head_request: bool,
    status: u16,
    transfer_encoding: Option<&[u8]>,
    content_length: &[&[u8]],
    input: &[u8],
    pieces: &[u8],
) -> Decoded {
    let Ok(mut framing) =
        Framing::of_response(head_request, status, transfer_encoding, content_length)
    else {
        return Decoded::BadHead;
    };
    let mut sizes = pieces.iter().map(|p| usize::from(*p).max(1)).cycle();
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut rest = input;
    loop {
        match framing.step(&mut buf) {
            Err(_) => return Decoded::BadBody { data },
            Ok(Step::Data(d)) => data.extend_from_slice(&d),
            Ok(Step::End) => {
                let mut after = buf.to_vec();
                after.extend_from_slice(rest);
                return Decoded::Complete { data, rest: after };
            }
            Ok(Step::NeedMore) if rest.is_empty() => {
                return if framing == Framing::Close {
                    Decoded::Complete {
                        data,
                        rest: Vec::new(),
                    }
                } else {
                    Decoded::Truncated { data }
                };
            }
            Ok(Step::NeedMore) => {
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
        }
    }
}
