//! Header editing for the way out, in one place: hop-by-hop headers, credentials and identity
//! spoofing removed from the client's request; `X-Forwarded-*`, the identity header and `Host`
//! kept apart in [`Added`] for the upstream client to write; hop-by-hop headers removed from
//! the upstream's response.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Version};

use super::ForwardContext;
use crate::auth::strip_credentials;
use crate::body::Body;
use crate::header_scan;
use crate::policy::UpstreamTarget;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Whether a request asks for a WebSocket and nothing else (HTTP/1.1, `Connection: upgrade`,
/// one `Upgrade` line whose only protocol is `websocket`).
pub fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let mut upgrades = header_scan::get_all(req.headers(), &header::UPGRADE);
    let only_websocket = match (upgrades.next(), upgrades.next()) {
        (Some(v), None) => v.to_str().is_ok_and(|v| {
            let mut protocols = v.split(',').map(str::trim).filter(|p| !p.is_empty());
            protocols
                .next()
                .is_some_and(|p| p.eq_ignore_ascii_case("websocket"))
                && protocols.next().is_none()
        }),
        _ => false,
    };
    req.version() == Version::HTTP_11
        && only_websocket
        && connection_tokens(req.headers()).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// Headers the gateway sets on a forwarded request (`X-Forwarded-*`, the identity, a service
/// credential, `Host`), kept apart from the client's, whose copies are removed: the lean
/// upstream client writes them after the client's, so the request's header map is never grown
/// (a rehash per request).
/// On the heap: the value is moved through every layer of the request path (and kept in each
/// layer's future), where six inline fields (432 bytes) were copied again and again.
#[derive(Default, Clone)]
pub(super) struct Added {
    fields: Vec<(HeaderName, HeaderValue)>,
}

/// The most fields a request gets (`X-Forwarded-For`, `-Proto`, `-Host`, the identity, a
/// service credential, `Host`): one allocation, never grown.
const MAX_ADDED: usize = 6;

impl Added {
    pub(super) fn push(&mut self, name: HeaderName, value: HeaderValue) {
        if self.fields.capacity() == 0 {
            self.fields.reserve_exact(MAX_ADDED);
        }
        self.fields.push((name, value));
    }

    /// The fields, in the order pushed.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.fields.iter().map(|(n, v)| (n, v))
    }

    /// Set the fields in `headers` (for hyper's clients).
    pub(super) fn insert_into(self, headers: &mut HeaderMap) {
        for (name, value) in self.fields {
            headers.insert(name, value);
        }
    }
}

/// Headers and URI as the upstream gets them: origin-form URI, hop-by-hop and spoofable
/// headers (and `Host`) gone, changed in place; `X-Forwarded-*` and the identity returned, for
/// the upstream client to add along with its own `Host`. `upgrade`: the client's `Upgrade`
/// value when its upgrade is allowed (kept with `Connection: upgrade`).
///
/// Each name in the request is classified once ([`Doomed`]) and only names present are
/// removed: removing each candidate by name hashed a dozen absent names per request (1.6k of
/// the request path's instructions, callgrind).
pub(super) fn prepare_request(
    req: &mut Request<Body>,
    ctx: &ForwardContext<'_>,
    upgrade: Option<HeaderValue>,
) -> Added {
    let forwarded_host = header_scan::remove(req.headers_mut(), &header::HOST).or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if req.uri().scheme().is_some() || req.uri().path_and_query().is_none() {
        // Absolute-form (HTTP/2 always, HTTP/1.1 rarely): keep only path and query.
        let path_and_query = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        *req.uri_mut() = http::Uri::from(path_and_query);
    }
    *req.version_mut() = Version::HTTP_11;

    let headers = req.headers_mut();
    let rules = Doomed::new(headers, ctx);
    let mut doomed: Vec<HeaderName> = Vec::new();
    let mut previous_chain = None;
    let mut credentials_present = false;
    for name in headers.keys() {
        let first = rules.first_pass(name);
        // A client's own claims of where it came from are never passed on; a trusted proxy's
        // `X-Forwarded-For` is extended, unless the request itself made it hop-by-hop.
        if name == X_FORWARDED_FOR && ctx.peer_trusted && !first {
            previous_chain = headers.get(name).cloned();
        }
        credentials_present |= name == header::AUTHORIZATION || name == header::COOKIE;
        if first || rules.second_pass(name) {
            doomed.push(name.clone());
        }
    }
    for name in doomed {
        headers.remove(name);
    }
    if let Some(up) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, up);
    }
    if credentials_present && (ctx.strip_credentials || ctx.credential.is_some()) {
        strip_credentials(headers);
    }

    let mut added = Added::default();
    let xff = match previous_chain.as_ref().and_then(|v| v.to_str().ok()) {
        Some(prev) => {
            let mut v = Vec::with_capacity(prev.len() + 2 + ctx.peer_ip.len());
            v.extend_from_slice(prev.as_bytes());
            v.extend_from_slice(b", ");
            v.extend_from_slice(ctx.peer_ip.as_bytes());
            HeaderValue::from_bytes(&v).ok()
        }
        None => Some(ctx.peer_ip.clone()),
    };
    if let Some(v) = xff {
        added.push(X_FORWARDED_FOR, v);
    }
    let proto = if ctx.tls { "https" } else { "http" };
    added.push(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(h) = forwarded_host {
        added.push(X_FORWARDED_HOST, h);
    }
    if let Some(id) = ctx.authid.and_then(|a| HeaderValue::from_str(a).ok()) {
        added.push(ctx.identity_header.clone(), id);
    }
    if let Some(service) = ctx.credential {
        // Whatever the client sent as its credentials, the upstream gets only the service's.
        added.push(service.header.clone(), service.value.clone());
    }
    added
}

/// Which of a request's header names the upstream must not get, in the two steps the rules
/// come in: first what is hop-by-hop (by nature or listed in `Connection`), spoofs the
/// identity, is stripped by configuration or aliases one of those; then (after a trusted
/// proxy's `X-Forwarded-For` chain is read) every claim of origin and, with a service
/// credential, the client's copy of its header.
struct Doomed<'a> {
    hop: HopByHop,
    ctx: &'a ForwardContext<'a>,
}

impl<'a> Doomed<'a> {
    fn new(headers: &HeaderMap, ctx: &'a ForwardContext<'a>) -> Doomed<'a> {
        Doomed {
            hop: HopByHop::of(headers),
            ctx,
        }
    }

    fn first_pass(&self, name: &HeaderName) -> bool {
        self.hop.covers(name)
            || name == self.ctx.identity_header
            || self.ctx.strip_headers.contains(name)
            || is_underscore_alias(name, self.ctx.identity_header, self.ctx.strip_headers)
    }

    fn second_pass(&self, name: &HeaderName) -> bool {
        is_forwarding_claim(name)
            || self
                .ctx
                .credential
                .is_some_and(|c| name == header::AUTHORIZATION || *name == c.header)
    }
}

/// Apply the route's `strip_prefix` / `add_prefix` to the (origin-form) URI.
pub(super) fn rewrite_path(req: &mut Request<Body>, target: &UpstreamTarget) {
    let Some(pq) = req.uri().path_and_query() else {
        return;
    };
    let path = target.rewrite(pq.path());
    if let std::borrow::Cow::Owned(path) = path {
        let text = match pq.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        // The prefixes hold only characters valid in a path, so this parses.
        if let Ok(uri) = http::Uri::try_from(text) {
            *req.uri_mut() = uri;
        }
    }
}

/// Headers that claim a client address, host, scheme, port, path or method: `Forwarded`, the
/// single-address ones and every `X-Forwarded-*` (the gateway sets its own three afterwards).
fn is_forwarding_claim(name: &HeaderName) -> bool {
    const SINGLE_ADDRESS: [&str; 3] = ["x-real-ip", "x-client-ip", "true-client-ip"];
    name == header::FORWARDED
        || name.as_str().starts_with("x-forwarded-")
        || SINGLE_ADDRESS.contains(&name.as_str())
}

/// Whether `name` is one that an upstream mapping `_` to `-` (CGI, WSGI, Perl's
/// `HTTP::Headers`) would read as the identity header, an `X-Forwarded-*` header the gateway
/// sets, or a stripped one.
fn is_underscore_alias(name: &HeaderName, identity: &HeaderName, strip: &[HeaderName]) -> bool {
    let name = name.as_str();
    name.contains('_')
        && [
            identity,
            &X_FORWARDED_FOR,
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
        ]
        .into_iter()
        .chain(strip)
        .map(|ours| ours.as_str())
        .any(|ours| {
            ours.len() == name.len()
                && ours
                    .bytes()
                    .zip(name.bytes())
                    .all(|(o, n)| o == n || (o == b'-' && n == b'_'))
        })
}

/// The hop-by-hop headers besides `Connection` (RFC 9110 §7.6.1, plus the de-facto ones).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::PROXY_AUTHORIZATION
        || name == header::PROXY_AUTHENTICATE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// A message's hop-by-hop names: `Connection`, the names it lists, and those hop-by-hop by
/// nature.
struct HopByHop {
    /// Names listed in `Connection` (usually none).
    listed: Vec<HeaderName>,
}

impl HopByHop {
    fn of(headers: &HeaderMap) -> HopByHop {
        // Collecting nothing (no `Connection`, the usual case) allocates nothing.
        let listed = connection_tokens(headers)
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        HopByHop { listed }
    }

    fn covers(&self, name: &HeaderName) -> bool {
        name == header::CONNECTION || is_hop_by_hop(name) || self.listed.contains(name)
    }
}

/// Remove hop-by-hop headers and those listed in `Connection` (from an upstream's response).
/// One pass over the names finds whether there is anything to remove (usually nothing).
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let hop = HopByHop::of(headers);
    let names: Vec<HeaderName> = headers.keys().filter(|k| hop.covers(k)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// The tokens of every `Connection` header line, trimmed.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    header_scan::get_all(headers, &header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(!h.contains_key("x-secret"));
        assert!(!h.contains_key("keep-alive"));
        assert!(!h.contains_key(header::CONNECTION));
        assert!(h.contains_key("x-kept"));
    }

    /// Names the requests below draw from: hop-by-hop, listed, spoofed, aliased, credential,
    /// origin claims and plain ones.
    const NAMES: [&str; 18] = [
        "host",
        "authorization",
        "cookie",
        "connection",
        "keep-alive",
        "te",
        "proxy-authorization",
        "x-secret",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-port",
        "forwarded",
        "x-real-ip",
        "x-aclgate-user",
        "x_aclgate_user",
        "x-http-method-override",
        "x_forwarded_for",
        "accept",
    ];

    const VALUES: [&str; 6] = [
        "10.0.0.1",
        "PVEAPIToken=joe@pve!t=secret",
        "PVEAuthCookie=ticket; theme=dark",
        "x-secret, x-forwarded-for",
        "keep-alive",
        "te, accept",
    ];

    proptest::proptest! {
        /// The single pass edits every request as the step-by-step edit it replaced did.
        #[test]
        fn prepare_request_agrees_with_the_step_by_step_edit(
            fields in proptest::collection::vec((0..NAMES.len(), 0..VALUES.len()), 0..10),
            trusted: bool,
            tls: bool,
            strip_credentials: bool,
            service: Option<bool>,
            authid: bool,
            upgrade: bool,
        ) {
            let mut req = Request::new(crate::body::full(bytes::Bytes::new()));
            for (n, v) in fields {
                req.headers_mut().append(NAMES[n], HeaderValue::from_static(VALUES[v]));
            }
            let identity = HeaderName::from_static("x-aclgate-user");
            let strip = [HeaderName::from_static("x-http-method-override")];
            let peer_ip = HeaderValue::from_static("192.0.2.7");
            let credential = service.map(|authorization| crate::config::upstreams::ServiceCredential {
                header: if authorization {
                    header::AUTHORIZATION
                } else {
                    HeaderName::from_static("x-api-key")
                },
                value: HeaderValue::from_static("service"),
            });
            let target = UpstreamTarget::default();
            let ctx = ForwardContext {
                authid: authid.then_some("joe@pve"),
                peer_ip: &peer_ip,
                peer_trusted: trusted,
                tls,
                identity_header: &identity,
                strip_credentials,
                strip_headers: &strip,
                slot: None,
                sticky: false,
                target: &target,
                credential: credential.as_ref(),
            };
            let upgrade = upgrade.then(|| HeaderValue::from_static("websocket"));
            let mut reference = Request::new(crate::body::full(bytes::Bytes::new()));
            *reference.headers_mut() = req.headers().clone();
            let want = step_by_step(&mut reference, &ctx, upgrade.clone());
            let got = prepare_request(&mut req, &ctx, upgrade);
            let fields = |a: &Added| {
                a.iter().map(|(n, v)| (n.clone(), v.clone())).collect::<Vec<_>>()
            };
            proptest::prop_assert_eq!(fields(&got), fields(&want));
            proptest::prop_assert_eq!(req.headers(), reference.headers());
        }
    }

    /// The request edit before the single pass, one removal by name after another (the
    /// oracle for the property above).
    fn step_by_step(
        req: &mut Request<Body>,
        ctx: &ForwardContext<'_>,
        upgrade: Option<HeaderValue>,
    ) -> Added {
        let forwarded_host = req.headers_mut().remove(header::HOST);
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        if let Some(up) = upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, up);
        }
        headers.remove(ctx.identity_header);
        for name in ctx.strip_headers {
            headers.remove(name);
        }
        let aliases: Vec<HeaderName> = headers
            .keys()
            .filter(|k| is_underscore_alias(k, ctx.identity_header, ctx.strip_headers))
            .cloned()
            .collect();
        for name in aliases {
            headers.remove(name);
        }
        if ctx.strip_credentials || ctx.credential.is_some() {
            strip_credentials(headers);
        }
        let mut added = Added::default();
        let prev = headers.remove(X_FORWARDED_FOR).filter(|_| ctx.peer_trusted);
        let claims: Vec<HeaderName> = headers
            .keys()
            .filter(|k| is_forwarding_claim(k))
            .cloned()
            .collect();
        for name in claims {
            headers.remove(name);
        }
        let xff = match prev.as_ref().and_then(|v| v.to_str().ok()) {
            Some(prev) => {
                HeaderValue::from_str(&format!("{prev}, {}", ctx.peer_ip.to_str().unwrap())).ok()
            }
            None => Some(ctx.peer_ip.clone()),
        };
        if let Some(v) = xff {
            added.push(X_FORWARDED_FOR, v);
        }
        let proto = if ctx.tls { "https" } else { "http" };
        added.push(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        if let Some(h) = forwarded_host {
            added.push(X_FORWARDED_HOST, h);
        }
        if let Some(id) = ctx.authid.and_then(|a| HeaderValue::from_str(a).ok()) {
            added.push(ctx.identity_header.clone(), id);
        }
        if let Some(service) = ctx.credential {
            headers.remove(header::AUTHORIZATION);
            headers.remove(&service.header);
            added.push(service.header.clone(), service.value.clone());
        }
        added
    }
}
