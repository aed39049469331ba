//! Properties of the credential parser (`aclgate::auth::Credential::extract`, spec §6.2): an API
//! token or a login ticket, as clients send them (raw or percent-encoded, `=` or one space after
//! the key, among other cookies), is read back exactly; a ticket wins over a token. The fuzz
//! target `credential` (docs/fuzzing.md) checks the finder's invariants on arbitrary headers.

use aclgate::auth::Credential;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

/// A token id as Proxmox allows it: any user name without whitespace, `:` or `/` (so `=`, `;`,
/// `%`, `!` and `@` included), a realm, a token name.
fn tokenid() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9._@!=;%+-]{1,10}",
        "[a-z][a-z0-9.-]{1,6}",
        "[a-z][a-z0-9._-]{1,6}",
    )
        .prop_map(|(name, realm, token)| format!("{name}@{realm}!{token}"))
        .prop_filter("a valid token id", |s| {
            s.parse::<aclgate::identity::Tokenid>().is_ok()
        })
}

/// Percent-encode everything but unreserved characters and the id punctuation `@` and `!`.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b'!') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn headers(pairs: &[(http::HeaderName, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            name,
            HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    map
}

/// A token's parts, if `c` is a token.
fn token_parts(c: Credential) -> Option<(String, String)> {
    match c {
        Credential::Token { tokenid, secret } => Some((tokenid.to_string(), secret)),
        _ => None,
    }
}

fn ticket_text(c: Credential) -> Option<String> {
    match c {
        Credential::Ticket { ticket } => Some(ticket),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// `PVEAPIToken=ID=SECRET` (or with one space) with the id percent-encoded reads back the
    /// id and secret exactly.
    #[test]
    fn token_round_trips(
        id in tokenid(),
        secret in "[a-zA-Z0-9-]{1,40}",
        space in any::<bool>(),
        before in prop::sample::select(vec!["", "Basic x, ", "\t"]),
    ) {
        let sep = if space { ' ' } else { '=' };
        let value = format!("{before}PVEAPIToken{sep}{}={secret}", encode(&id));
        let got = token_parts(Credential::extract(&headers(&[(AUTHORIZATION, value.clone())])));
        prop_assert_eq!(got, Some((id, secret)), "{}", value);
    }

    /// Ids made only of unreserved characters need no encoding: the raw form reads back too.
    #[test]
    fn plain_token_round_trips(
        name in "[a-z][a-z0-9._-]{1,8}",
        token in "[a-z][a-z0-9._-]{1,6}",
        secret in "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}",
    ) {
        let id = format!("{name}@pve!{token}");
        let value = format!("PVEAPIToken={id}={secret}");
        let got = token_parts(Credential::extract(&headers(&[(AUTHORIZATION, value)])));
        prop_assert_eq!(got, Some((id, secret)));
    }

    /// A ticket in `Cookie` (percent-encoded, among other cookies) or in `Authorization` reads
    /// back exactly, and wins over a token sent alongside.
    #[test]
    fn ticket_round_trips_and_wins(
        user in "[a-z][a-z0-9]{0,8}@p[a-z]{2}",
        stamp in "[0-9A-F]{8}",
        sig in "[A-Za-z0-9+/]{43}=",
        others in prop::collection::vec(("[a-z]{1,6}", "[a-z0-9]{0,6}"), 0..3),
        in_cookie in any::<bool>(),
    ) {
        let ticket = format!("PVE:{user}:{stamp}::{sig}");
        let mut cookie: Vec<String> = others.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cookie.push(format!("PVEAuthCookie={}", encode(&ticket)));
        let token = "PVEAPIToken=joe@pve!ci=11111111-2222-4333-8444-555555555555".to_owned();
        let map = if in_cookie {
            headers(&[(COOKIE, cookie.join("; ")), (AUTHORIZATION, token)])
        } else {
            headers(&[(AUTHORIZATION, format!("PVEAuthCookie={ticket}"))])
        };
        prop_assert_eq!(ticket_text(Credential::extract(&map)), Some(ticket));
    }

    /// A key glued to other text (`xPVEAuthCookie=`, `a=b;PVEAuthCookie=`) is not the key.
    #[test]
    fn key_must_start_a_word(prefix in "[a-zA-Z0-9;=]{1,4}", value in "[a-z0-9]{1,8}") {
        prop_assume!(!prefix.ends_with(' '));
        let map = headers(&[(COOKIE, format!("{prefix}PVEAuthCookie={value}"))]);
        prop_assert!(matches!(Credential::extract(&map), Credential::None));
    }
}
