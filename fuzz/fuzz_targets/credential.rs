//! The credential finder (`Cookie` / `Authorization`: `PVEAuthCookie` tickets and `PVEAPIToken`
//! tokens): any header values give a credential, none, or "malformed" without panicking; a
//! found value is the text right after `KEY=` or `KEY ` (key at the start or after whitespace) up
//! to the next `;`; a token's secret is what follows the last `=`.
#![no_main]

use aclgate::auth::{Credential, TICKET_KEY, find_key};
use aclgate_fuzz::fields;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// `found` lies inside `value`, right after `key` and `=` or a space, with `key` at the start or
/// after whitespace, and runs to a `;` or the end.
fn assert_found_in(value: &str, key: &str, found: &str) {
    let start = found.as_ptr() as usize - value.as_ptr() as usize;
    let end = start + found.len();
    assert!(end <= value.len(), "{found:?} is not a slice of {value:?}");
    assert!(!found.contains(';'), "{found:?} runs past a `;`");
    assert!(end == value.len() || value.as_bytes()[end] == b';');
    let before = &value[..start];
    let key_at = before
        .strip_suffix(['=', ' '])
        .and_then(|b| b.strip_suffix(key))
        .unwrap_or_else(|| panic!("{found:?} does not follow {key}= in {value:?}"));
    assert!(
        key_at.chars().next_back().is_none_or(char::is_whitespace),
        "{key} is not at the start or after whitespace in {value:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 3);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (COOKIE, parts[0]),
        (AUTHORIZATION, parts[1]),
        (COOKIE, parts[2]),
    ] {
        if value.is_empty() {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    for value in headers.values() {
        let Ok(text) = value.to_str() else { continue };
        for key in [TICKET_KEY, "PVEAPIToken"] {
            if let Some(found) = find_key(text, key) {
                assert_found_in(text, key, found);
            }
        }
    }
    match Credential::extract(&headers) {
        Credential::Token { tokenid: _, secret } => {
            assert!(!secret.contains('='), "a token secret follows the last `=`");
        }
        Credential::Ticket { ticket } => assert!(!ticket.is_empty(), "empty ticket accepted"),
        Credential::None | Credential::Malformed => {}
    }
});
