//! `aclgate explain`: the route a request would take (file and line), its check, the decision
//! and, for every ACL path the check reads, which node, entry kind and roles decided.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::serve::{ConfigArgs, resolve};
use crate::gate::{self, Denial, Facts, Principal};
use crate::identity::Authid;
use crate::policy::{Access, Check, EvalContext, Params, RouteTable};
use crate::proxy::normalise;
use crate::snapshot::{State, now};

/// `aclgate explain` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Who asks: a userid or a full token id.
    #[arg(long)]
    pub authid: String,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request path, e.g. `/api2/json/nodes/n1/qemu/100/status/current` (a query string is
    /// read as parameters).
    #[arg(long)]
    pub path: String,
    /// A body or query parameter `KEY=VALUE` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

/// Run `aclgate explain`: exit 0 if the request would be allowed, 1 if denied, 2 on errors.
pub fn explain(args: ExplainArgs, state_dir: Option<PathBuf>) -> ExitCode {
    let mut out = String::new();
    match run(&args, state_dir, &mut out) {
        Ok(allowed) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
            if allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
            eprintln!("aclgate explain: {e}");
            ExitCode::from(2)
        }
    }
}

/// The explanation as text in `out`; `Ok(true)` if the request would be allowed.
pub fn run(
    args: &ExplainArgs,
    state_dir: Option<PathBuf>,
    out: &mut String,
) -> Result<bool, String> {
    let config = resolve(&args.config, state_dir).map_err(|e| e.to_string())?;
    let state = State::load(&config.state.dir).map_err(|e| e.to_string())?;
    let routes = RouteTable::load(&config.policies).map_err(|e| e.to_string())?;
    let engine = crate::access::Engine::build(&state.user_cfg);
    let authid: Authid = args
        .authid
        .parse()
        .map_err(|_| format!("invalid authid `{}`", args.authid))?;
    let method = args.method.to_ascii_uppercase();
    let (raw_path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (args.path.as_str(), None),
    };
    let path = normalise(raw_path).map_err(|e| format!("path `{raw_path}`: {e} (400)"))?;

    let Some(found) = routes.find(&method, &path) else {
        let _ = writeln!(out, "route:    none for {method} {path}");
        let _ = writeln!(out, "decision: deny (404 after authentication)");
        return Ok(false);
    };
    let route = found.route;
    let _ = writeln!(
        out,
        "route:    {} {} ({})",
        route.method, route.template, route.source
    );
    let _ = writeln!(out, "check:    {}", describe_access(&route.access));
    let body = args.params.join("&");
    let mut params = Params::new(found.path_params);
    params
        .add_body(None, body.as_bytes())
        .map_err(|e| e.to_string())?;
    if let Some(q) = query {
        params.add_query(q).map_err(|e| e.to_string())?;
    }

    let (who, usable) = identity(&state, &authid);
    let _ = writeln!(out, "identity: {who}");
    // The gateway's own decision, for a caller that authenticated (a ticket with its CSRF
    // token, or a token from an allowed address); rate limits are not counted.
    let principal = if authid.is_token() {
        Principal::Token(authid.clone())
    } else {
        Principal::User(authid.clone())
    };
    let method_value: http::Method = method
        .parse()
        .map_err(|_| format!("invalid method `{method}`"))?;
    let facts = Facts {
        method: &method_value,
        csrf: None,
        client: None,
        now: now(),
    };
    let ctx = gate::Context {
        eval: EvalContext {
            engine: &engine,
            users: &state.user_cfg,
        },
        token_options: &state.token_options,
        tickets: None,
        limiter: None,
    };
    let (allow, reason) = match gate::decide(&principal, Some(route), &params, &facts, &ctx) {
        Ok(permit) => (true, permit.reason().to_string()),
        Err(Denial::Forbidden(reason)) => (false, reason.to_string()),
        Err(other) => (false, other.to_string()),
    };
    let verdict = if allow { "allow" } else { "deny" };
    let allowed = allow && usable;
    if usable {
        let _ = writeln!(out, "decision: {verdict} — {reason}");
    } else {
        let _ = writeln!(out, "check:    would {verdict} — {reason}");
        let _ = writeln!(out, "decision: deny — authentication fails (401)");
    }

    if let Access::Check(check) = &route.access {
        let mut paths = Vec::new();
        perm_paths(check, &params, &mut paths);
        for p in paths {
            let privs = engine.privs(&authid, &p);
            let _ = write!(out, "acl {p}: privs [{}]", privs.granted);
            match engine.decider(&authid, &p) {
                Some(d) => {
                    let at = if d.exact { "exact" } else { "inherited" };
                    let _ = write!(out, "; decided at {} by {:?} entry ({at})", d.path, d.kind);
                }
                None => {
                    let _ = write!(out, "; no ACL entry applies");
                }
            }
            let roles: Vec<String> = engine
                .roles(&authid, &p)
                .into_iter()
                .map(|(r, prop)| if prop { format!("{r} (propagate)") } else { r })
                .collect();
            let _ = writeln!(out, "; roles [{}]", roles.join(", "));
        }
    }
    Ok(allowed)
}

/// Whether the authid could authenticate at all (explain does not verify secrets).
fn identity(state: &State, authid: &Authid) -> (String, bool) {
    let now = now();
    let fail = |why: &str| (format!("{authid}: {why} (401)"), false);
    let Some(user) = authid
        .user_str()
        .parse()
        .ok()
        .and_then(|u| state.user_cfg.users.get(&u))
    else {
        return fail("unknown user");
    };
    if !user.is_usable(now) {
        return fail("user disabled or expired");
    }
    match authid {
        Authid::User(_) => (format!("{authid}: user"), true),
        Authid::Token(t) => match state.user_cfg.token(t) {
            None => fail("unknown token"),
            Some(tok) if !tok.is_unexpired(now) => fail("token expired"),
            Some(_) if !state.tokens.contains(t) => fail("token has no secret"),
            Some(tok) => (
                format!("{authid}: token, privsep={}", u8::from(tok.privsep)),
                true,
            ),
        },
    }
}

fn describe_access(access: &Access) -> String {
    match access {
        Access::World => "user = world (no authentication)".to_owned(),
        Access::All => "user = all (any authenticated user or token)".to_owned(),
        Access::RootOnly => "root@pam only".to_owned(),
        Access::Check(c) => c.to_string(),
    }
}

/// The ACL paths a check reads, with parameters substituted (unresolvable ones skipped).
fn perm_paths(c: &Check, params: &Params<'_>, out: &mut Vec<String>) {
    let mut add = |template: &crate::policy::Template| {
        if let Ok(p) = template.with_path(|n| params.get(n), str::to_owned)
            && !out.contains(&p)
        {
            out.push(p);
        }
    };
    match c {
        Check::Perm { path, .. } | Check::PermModify { path } => add(path),
        Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| perm_paths(c, params, out)),
        Check::UseridParamSelf
        | Check::UseridParamRealmAllocateUser
        | Check::UseridGroup { .. } => {}
    }
}
