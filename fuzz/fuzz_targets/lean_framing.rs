//! The lean upstream client's response framing (Content-Length, chunked, close-delimited):
//! nothing panics; the outcome does not depend on how the bytes were cut into reads; a body
//! never yields more bytes than arrived; a Content-Length body is exactly its prefix; a chunked
//! body re-encoded as one chunk decodes to the same data.
#![no_main]

use aclgate::upstream::lean_fuzz_api::{Decoded, decode_response};
use aclgate_fuzz::fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // head flags (head request?, status class), transfer-encoding, content-length values
    // (comma-joined as the fields would be), read sizes, body.
    let parts = fields(data, 5);
    let flags = parts[0];
    let head_request = flags.first().is_some_and(|b| b & 1 == 1);
    let status = match flags.get(1).copied().unwrap_or(0) % 8 {
        0 => 100 + u16::from(flags.get(2).copied().unwrap_or(0)) % 100,
        1 => 204,
        2 => 304,
        3 => 404,
        _ => 200,
    };
    let te = (!parts[1].is_empty()).then_some(parts[1]);
    let lengths: Vec<&[u8]> = if parts[2].is_empty() {
        Vec::new()
    } else {
        parts[2].split(|b| *b == b'\n').collect()
    };
    let (pieces, body) = (parts[3], parts[4]);

    let whole = decode_response(head_request, status, te, &lengths, body, &[u8::MAX]);
    let cut = decode_response(head_request, status, te, &lengths, body, pieces);
    let bytewise = decode_response(head_request, status, te, &lengths, body, &[1]);
    assert_eq!(whole, cut, "reads cut at {pieces:?} change the outcome");
    assert_eq!(whole, bytewise, "byte-by-byte reads change the outcome");

    match &whole {
        Decoded::BadHead => {}
        Decoded::BadBody { data } | Decoded::Truncated { data } => {
            assert!(data.len() <= body.len(), "more data than input");
        }
        Decoded::Complete { data, rest } => {
            assert!(
                data.len() + rest.len() <= body.len(),
                "more data than input"
            );
            let chunked = te.is_some_and(|t| {
                t.rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|l| l.trim_ascii().eq_ignore_ascii_case(b"chunked"))
            });
            let empty =
                head_request || (100..200).contains(&status) || status == 204 || status == 304;
            if !empty && te.is_none() && !lengths.is_empty() {
                // Content-Length: the body is the prefix, the rest follows it.
                assert_eq!(
                    [&data[..], &rest[..]].concat(),
                    body,
                    "length body + rest = input"
                );
            }
            if !empty && chunked && !data.is_empty() {
                let mut again = format!("{:x}\r\n", data.len()).into_bytes();
                again.extend_from_slice(data);
                again.extend_from_slice(b"\r\n0\r\n\r\n");
                let re = decode_response(false, 200, Some(&b"chunked"[..]), &[], &again, pieces);
                assert_eq!(
                    re,
                    Decoded::Complete {
                        data: data.clone(),
                        rest: Vec::new()
                    },
                    "chunked re-encoding"
                );
            }
        }
    }
});
