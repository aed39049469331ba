//! [`decide`]: the one place a request is allowed or refused, and the typed outcome of it —
//! a [`Permit`] only this module can make, or a [`Denial`] that `src/error.rs` answers.

use std::net::IpAddr;
use std::time::Duration;

use http::Method;

use super::Principal;
use crate::auth::rate_limit::RateLimiter;
use crate::auth::ticket::TicketAuthority;
use crate::config::TokenOptions;
use crate::identity::Authid;
use crate::policy::{self, Caller, EvalContext, Params, Reason, Route};

/// What `decide` reads besides the request: the snapshot's rules and the runtime's guards.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The permission engine and user configuration of the snapshot.
    pub eval: EvalContext<'a>,
    /// `token-options.cfg`: per-token `allowed-ips` and rate limits.
    pub token_options: &'a TokenOptions,
    /// Verifies CSRF tokens; `None` = no tickets are accepted, so there is none to check.
    pub tickets: Option<&'a TicketAuthority>,
    /// The per-token rate-limit buckets; `None` = limits are not counted (`explain`).
    pub limiter: Option<&'a RateLimiter>,
}

/// Facts about the request that rules read, besides route and parameters.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The request method (CSRF applies to every method but GET).
    pub method: &'a Method,
    /// The `CSRFPreventionToken` header, if sent.
    pub csrf: Option<&'a str>,
    /// The client address for `allowed-ips`; `None` = not checked (`explain` has no client).
    pub client: Option<IpAddr>,
    /// Seconds since the epoch.
    pub now: u64,
}

/// Proof that a request was allowed: only [`decide`] makes one. Carries what dispatch needs.
#[derive(Debug)]
pub struct Permit<'a> {
    route: &'a Route,
    principal: &'a Principal,
    reason: Reason,
}

/// Why a request was refused. Each has one HTTP answer, in `src/error.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// A valid token used from outside its `allowed-ips`: answered like any failed
    /// authentication (401), but the log names the token (a leak to look into).
    #[error("authentication failed (source address not allowed)")]
    SourceNotAllowed,
    /// The token's `rate-limit` is used up; it may retry after the given time.
    #[error("rate limit exceeded (retry after {} s)", retry_after_secs(*.0))]
    RateLimited(Duration),
    /// A ticket request other than GET without a valid `CSRFPreventionToken` header.
    #[error("Permission denied - invalid csrf token")]
    BadCsrf,
    /// No route for method and path (after authentication: the default policy is deny).
    #[error("no route")]
    RouteNotFound,
    /// The route's check (or `allowtoken`) refused; displays as Proxmox's 403 message.
    #[error("{0}")]
    Forbidden(Reason),
}

/// Decide whether `principal` may call `route` (`None`: no route matched) with `params`.
///
/// In order (the first that fails decides): for a token, its `allowed-ips`, then its rate
/// limit (counted once the token is authenticated, allowed or denied later, so a wrong secret
/// cannot use up a token's budget); for a ticket, the CSRF token of every request but GET
/// (spec §6.6); then the route (none = 404); then `allowtoken` and the route's check
/// ([`policy::eval`]).
pub fn decide<'a>(
    principal: &'a Principal,
    route: Option<&'a Route>,
    params: &Params<'_>,
    facts: &Facts<'_>,
    ctx: &Context<'_>,
) -> Result<Permit<'a>, Denial> {
    let authid = match principal {
        Principal::Anonymous { sent_token } => {
            let route = route.ok_or(Denial::RouteNotFound)?;
            // `user = "world"`: no identity, but a token still meets `allowtoken = false`.
            if *sent_token && !route.allowtoken {
                let uri = route.relative_uri(params);
                return Err(Denial::Forbidden(Reason::TokenNotAllowed { uri }));
            }
            return Ok(Permit::new(route, principal, Reason::World));
        }
        Principal::Token(authid) => {
            token_rules(authid, facts, ctx)?;
            authid
        }
        Principal::User(authid) => {
            csrf_rule(authid, facts, ctx)?;
            authid
        }
    };
    let route = route.ok_or(Denial::RouteNotFound)?;
    let caller = Caller {
        authid,
        via_token: principal.via_token(),
    };
    let decision = policy::eval(route, &caller, params, &ctx.eval);
    if decision.allow {
        Ok(Permit::new(route, principal, decision.reason))
    } else {
        Err(Denial::Forbidden(decision.reason))
    }
}

/// A token's `allowed-ips` and rate limit (`token-options.cfg`).
fn token_rules(authid: &Authid, facts: &Facts<'_>, ctx: &Context<'_>) -> Result<(), Denial> {
    let Some(options) = ctx.token_options.find(authid.as_str()) else {
        return Ok(());
    };
    if let Some(client) = facts.client
        && !options.allows(client)
    {
        return Err(Denial::SourceNotAllowed);
    }
    if let (Some(limit), Some(limiter)) = (options.rate_limit, ctx.limiter) {
        limiter
            .check(authid.as_str(), limit)
            .map_err(|limited| Denial::RateLimited(limited.retry_after))?;
    }
    Ok(())
}

/// Spec §6.6: every ticket request other than GET carries the user's CSRF token.
fn csrf_rule(authid: &Authid, facts: &Facts<'_>, ctx: &Context<'_>) -> Result<(), Denial> {
    let (Some(tickets), Authid::User(userid)) = (ctx.tickets, authid) else {
        return Ok(());
    };
    if facts.method == Method::GET {
        return Ok(());
    }
    let now = i64::try_from(facts.now).unwrap_or(i64::MAX);
    if tickets.verify_csrf(facts.csrf.unwrap_or(""), userid, now) {
        Ok(())
    } else {
        Err(Denial::BadCsrf)
    }
}

// === impl Permit ===

impl<'a> Permit<'a> {
    fn new(route: &'a Route, principal: &'a Principal, reason: Reason) -> Permit<'a> {
        Permit {
            route,
            principal,
            reason,
        }
    }

    /// The route allowed.
    pub fn route(&self) -> &'a Route {
        self.route
    }

    /// Who was allowed.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }

    /// Why: world, root@pam, `user = all`, or the check passed.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

/// `Retry-After` takes whole seconds: round up, and never 0 (that would invite a busy loop).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

// === impl Denial ===

impl Denial {
    /// Whether the principal is refused as unauthenticated (a 401, held until the failure
    /// delay after the request started).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Denial::SourceNotAllowed | Denial::BadCsrf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Engine;
    use crate::config::UserConfig;
    use crate::policy::{PathParams, RouteTable};

    const POLICY: &str = r#"
[[route]]
method = "GET"
path = "/open"
user = "world"
allowtoken = false

[[route]]
method = "POST"
path = "/vms/{vmid}"
check = ["perm", "/vms/{vmid}", ["VM.Audit"]]
"#;

    /// Denial or the permit's reason, for the table.
    fn outcome(r: Result<Permit<'_>, Denial>) -> Result<Reason, Denial> {
        r.map(|p| p.reason().clone())
    }

    #[test]
    fn rules_apply_in_order() {
        let (users, _) = UserConfig::parse(
            "user:joe@pve:1:0:::::\ntoken:joe@pve!net:0:0::\ntoken:joe@pve!lim:0:0::\n\
             acl:1:/vms:joe@pve:PVEAuditor:\n",
        );
        let engine = Engine::build(&users);
        let (options, _) = TokenOptions::parse(
            "token: joe@pve!net\n\tallowed-ips 10.0.0.0/8\n\n\
             token: joe@pve!lim\n\trate-limit 1\n\trate-burst 1\n\n",
            |_| true,
        )
        .unwrap();
        let limiter = RateLimiter::new();
        let routes = RouteTable::from_str("test", POLICY).unwrap();
        let ctx = Context {
            eval: EvalContext {
                engine: &engine,
                users: &users,
            },
            token_options: &options,
            tickets: None,
            limiter: Some(&limiter),
        };
        let check = |principal: Principal,
                     method: &str,
                     path: &str,
                     client: &str,
                     want: Result<Reason, Denial>| {
            let found = routes.find(method, path);
            let route = found.as_ref().map(|m| m.route);
            let params = Params::new(PathParams::new());
            let params = match found {
                Some(m) => Params::new(m.path_params),
                None => params,
            };
            let method: Method = method.parse().unwrap();
            let facts = Facts {
                method: &method,
                csrf: None,
                client: Some(client.parse().unwrap()),
                now: 100,
            };
            let got = outcome(decide(&principal, route, &params, &facts, &ctx));
            assert_eq!(got, want, "{principal:?} {method} {path} from {client}");
        };
        let token = |id: &str| Principal::Token(id.parse().unwrap());
        let user = Principal::User("joe@pve".parse().unwrap());
        let ip = "127.0.0.1";
        check(user.clone(), "POST", "/vms/1", ip, Ok(Reason::CheckPassed));
        check(user.clone(), "GET", "/nope", ip, Err(Denial::RouteNotFound));
        // allowed-ips before the route: a stolen token learns nothing about paths.
        check(
            token("joe@pve!net"),
            "GET",
            "/nope",
            ip,
            Err(Denial::SourceNotAllowed),
        );
        check(
            token("joe@pve!net"),
            "POST",
            "/vms/1",
            "10.1.2.3",
            Ok(Reason::CheckPassed),
        );
        // One request a second, burst one: the second is limited, even to a missing route.
        check(
            token("joe@pve!lim"),
            "POST",
            "/vms/1",
            ip,
            Ok(Reason::CheckPassed),
        );
        let limited = outcome(decide(
            &token("joe@pve!lim"),
            None,
            &Params::new(PathParams::new()),
            &Facts {
                method: &Method::GET,
                csrf: None,
                client: None,
                now: 100,
            },
            &ctx,
        ));
        assert!(
            matches!(limited, Err(Denial::RateLimited(_))),
            "{limited:?}"
        );
        // World routes: no identity, but a token still meets `allowtoken = false`.
        let anonymous = |sent_token| Principal::Anonymous { sent_token };
        check(anonymous(false), "GET", "/open", ip, Ok(Reason::World));
        let refused = Reason::TokenNotAllowed {
            uri: "/open".to_owned(),
        };
        check(
            anonymous(true),
            "GET",
            "/open",
            ip,
            Err(Denial::Forbidden(refused)),
        );
    }
}
