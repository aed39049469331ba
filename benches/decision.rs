//! Decision latency: route match + parameter extraction + check evaluation with the full Proxmox
//! VE route table (policies/pve.toml + policies/access.toml) and a generated state of 100k ACL entries (10k users with
//! one privsep token each, 1k groups, 200 pools).
//!
//! The `full path` benches add authentication in front of the decision, side by side: an API
//! token (`gate::authenticate` with the salted-hash secret check, then `gate::decide`) and a
//! ticket cookie (cached
//! ticket verification + user and logout re-check against a snapshot loaded from files), and a
//! token with `allowed-ips` and a rate limit (`token-options.cfg`).
//! Run: `cargo bench --bench decision`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};

use aclgate::access::{AclPath, Engine};
use aclgate::auth::Credential;
use aclgate::auth::rate_limit::RateLimiter;
use aclgate::auth::ticket::{TicketAuthority, TicketConfig, epoch_now};
use aclgate::config::gateway::GatewayConfig;
use aclgate::config::user_cfg::{AclNode, Group, Pool, Token, User};
use aclgate::config::{StateDir, TokenShadow, UserConfig};
use aclgate::gate::{self, Facts};
use aclgate::identity::{Authid, GroupId, PoolId, RoleId, TokenName, Tokenid, Userid};
use aclgate::policy::{Access, Caller, EvalContext, Params, RouteTable, eval};
use aclgate::snapshot::Snapshot;

const USERS: usize = 10_000;
const GROUPS: usize = 1_000;
const POOLS: usize = 200;
const ACL_ENTRIES: usize = 100_000;
const ROLES: [&str; 6] = [
    "PVEVMUser",
    "PVEAuditor",
    "PVEVMAdmin",
    "PVEDatastoreUser",
    "PVETemplateUser",
    "NoAccess",
];

/// A small deterministic generator (no dependency, same state every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

fn state() -> UserConfig {
    let mut rng = Lcg(42);
    let mut cfg = UserConfig::default();
    cfg.users.insert(id("root@pam"), User::new());
    let users: Vec<Userid> = (0..USERS).map(|i| id(&format!("user{i}@pve"))).collect();
    let mut tokens = Vec::with_capacity(USERS);
    for u in &users {
        let mut user = User::new();
        let name: TokenName = id("auto");
        tokens.push(Tokenid::new(u, &name));
        user.tokens.insert(
            name,
            Token {
                expire: 0,
                privsep: true,
                comment: String::new(),
            },
        );
        cfg.users.insert(u.clone(), user);
    }
    let groups: Vec<GroupId> = (0..GROUPS).map(|i| id(&format!("group{i}"))).collect();
    for g in &groups {
        let members = (0..10).map(|_| users[rng.below(USERS)].clone()).collect();
        cfg.groups.insert(
            g.clone(),
            Group {
                members,
                comment: String::new(),
            },
        );
    }
    for p in 0..POOLS {
        let vms = (0..20).map(|k| (100 + p * 20 + k).to_string()).collect();
        let storage = [format!("store{}", p % 50)].into();
        cfg.pools.insert(
            id::<PoolId>(&format!("pool{p}")),
            Pool {
                comment: String::new(),
                vms,
                storage,
            },
        );
    }
    let mut n = 0;
    while n < ACL_ENTRIES {
        let path = match rng.below(10) {
            0..=5 => format!("/vms/{}", 100 + rng.below(20_000)),
            6 => format!("/storage/store{}", rng.below(100)),
            7 => format!("/pool/pool{}", rng.below(POOLS)),
            8 => format!("/nodes/n{}", rng.below(16)),
            _ => ["/", "/vms", "/storage", "/access/groups"][rng.below(4)].to_owned(),
        };
        let path = AclPath::normalize(&path).expect("generated path is valid");
        let role: RoleId = id(ROLES[rng.below(ROLES.len())]);
        let propagate = rng.below(4) != 0;
        let node: &mut AclNode = cfg.acl.entry(path).or_default();
        let who = rng.below(10);
        let map = match who {
            0..=4 => node
                .users
                .entry(users[rng.below(USERS)].clone())
                .or_default(),
            5..=7 => node
                .tokens
                .entry(tokens[rng.below(USERS)].clone())
                .or_default(),
            _ => node
                .groups
                .entry(groups[rng.below(GROUPS)].clone())
                .or_default(),
        };
        if map.insert(role, propagate).is_none() {
            n += 1;
        }
    }
    // The callers of the benchmark requests: user7 and its token hold VM rights on /vms/100.
    let vms100 = cfg
        .acl
        .entry(AclPath::normalize("/vms/100").expect("valid"))
        .or_default();
    vms100
        .users
        .insert(users[7].clone(), BTreeMap::from([(id("PVEVMAdmin"), true)]));
    vms100
        .tokens
        .insert(tokens[7].clone(), BTreeMap::from([(id("PVEVMUser"), true)]));
    cfg
}

/// One request as the gateway sees it after authentication.
struct Request {
    name: &'static str,
    authid: Authid,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: &'static str,
    allow: bool,
}

/// Route match, parameters and check: the decision minus token verification.
/// The policy files `serve` loads by default: the forwarded Proxmox API and the access API.
fn shipped_policies() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    vec![dir.join("pve.toml"), dir.join("access.toml")]
}

fn decide(table: &RouteTable, ctx: &EvalContext<'_>, r: &Request) -> bool {
    let Some(m) = table.find(r.method, r.path) else {
        return false;
    };
    let needs_body = m.route.needs_body();
    let mut params = Params::new(m.path_params);
    if params.add_query(r.query).is_err() {
        return false;
    }
    if needs_body
        && params
            .add_body(Some("application/x-www-form-urlencoded"), r.body.as_bytes())
            .is_err()
    {
        return false;
    }
    let caller = Caller {
        authid: &r.authid,
        via_token: r.authid.is_token(),
    };
    eval(m.route, &caller, &params, ctx).allow
}

fn requests() -> Vec<Request> {
    let req = |name, authid: &str, method, path, query, body, allow| Request {
        name,
        authid: id(authid),
        method,
        path,
        query,
        body,
        allow,
    };
    vec![
        req(
            "qemu status, privsep token",
            "user7@pve!auto",
            "GET",
            "/api2/json/nodes/n1/qemu/100/status/current",
            "",
            "",
            true,
        ),
        req(
            "qemu status, user",
            "user7@pve",
            "GET",
            "/api2/json/nodes/n1/qemu/100/status/current",
            "",
            "",
            true,
        ),
        req(
            "qemu status, denied",
            "user9999@pve",
            "GET",
            "/api2/json/nodes/n1/qemu/100/status/current",
            "",
            "",
            false,
        ),
        req(
            "qemu start, token",
            "user7@pve!auto",
            "POST",
            "/api2/json/nodes/n1/qemu/100/status/start",
            "",
            "",
            true,
        ),
        req(
            "qemu clone, and/or",
            "user7@pve",
            "POST",
            "/api2/json/nodes/n1/qemu/100/clone",
            "",
            "newid=101&name=x",
            false,
        ),
        req(
            "cluster resources, all",
            "user7@pve!auto",
            "GET",
            "/api2/json/cluster/resources",
            "type=vm",
            "",
            true,
        ),
        req(
            "acl put, perm-modify",
            "user7@pve",
            "PUT",
            "/api2/json/access/acl",
            "",
            "path=/vms/100&roles=PVEVMUser&users=user8@pve",
            true,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let table = RouteTable::load(&shipped_policies()).expect("shipped policies load");
    let cfg = state();
    let engine = Engine::build(&cfg);
    let ctx = EvalContext {
        engine: &engine,
        users: &cfg,
    };
    let reqs = requests();
    // The generated ACLs are random, so report what each request decides rather than insist.
    for r in &reqs {
        // A request without a route would time a miss, not a decision.
        assert!(
            table.find(r.method, r.path).is_some(),
            "{}: no route for {} {}",
            r.name,
            r.method,
            r.path
        );
        let allow = decide(&table, &ctx, r);
        let note = if allow == r.allow {
            ""
        } else {
            " (not as intended)"
        };
        eprintln!("{}: {}{note}", r.name, if allow { "allow" } else { "deny" });
    }
    let mut group = c.benchmark_group("decision");
    for r in &reqs {
        group.bench_function(r.name, |b| b.iter(|| decide(&table, &ctx, black_box(r))));
    }
    group.bench_function("mix of all", |b| {
        b.iter(|| {
            reqs.iter()
                .filter(|r| decide(&table, &ctx, black_box(r)))
                .count()
        })
    });
    group.bench_function("route match only", |b| {
        b.iter(|| {
            table
                .find(
                    "GET",
                    black_box("/api2/json/nodes/n1/qemu/100/status/current"),
                )
                .is_some()
        })
    });
    // Attribution: the permission engine alone, for the first request's caller and path.
    let who: Authid = id("user7@pve!auto");
    group.bench_function("engine privs only (/vms/100, privsep token)", |b| {
        b.iter(|| engine.privs(black_box(&who), black_box("/vms/100")).granted)
    });
    let subject = engine.subject(&who);
    group.bench_function(
        "engine privs only, uncached walk (/vms/100, privsep token)",
        |b| {
            b.iter(|| {
                engine
                    .privs_uncached(black_box(subject), black_box("/vms/100"))
                    .granted
            })
        },
    );
    let user: Authid = id("user7@pve");
    group.bench_function("engine privs only (/vms/100, user)", |b| {
        b.iter(|| {
            engine
                .privs(black_box(&user), black_box("/vms/100"))
                .granted
        })
    });
    group.finish();
    full_path(c, &cfg, &reqs[0], &reqs[1]);
}

/// Authentication + decision, for a token and for a ticket, against a real snapshot.
fn full_path(c: &mut Criterion, cfg: &UserConfig, token_req: &Request, user_req: &Request) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let state = root.join("state");
    std::fs::create_dir_all(state.join("priv")).expect("state dir");
    std::fs::write(state.join("user.cfg"), cfg.write()).expect("user.cfg");
    let secret = "0b1e7a5e-0000-4000-8000-000000000007";
    let Authid::Token(tokenid) = &token_req.authid else {
        panic!("the first request is a token's");
    };
    let mut shadow = TokenShadow::default();
    shadow.set_secret(tokenid, secret);
    std::fs::write(state.join("priv/token.shadow"), shadow.write()).expect("token.shadow");
    let (cert, key) = (root.join("c.crt"), root.join("c.key"));
    aclgate::server::tls::ensure_self_signed(&cert, &key).expect("certificate");
    let mut config = GatewayConfig::default();
    config.state.dir = state.clone();
    config.policies = shipped_policies();
    config.tls.cert = cert;
    config.tls.key = key;
    let config = std::sync::Arc::new(config);
    let snapshot = Snapshot::load(config.clone(), 1).expect("snapshot loads");
    // The same state with the token restricted: four networks (the peer in the last one) and
    // a rate limit, as `token-options.cfg` holds them.
    std::fs::write(
        state.join("token-options.cfg"),
        format!(
            "token: {tokenid}\n\tallowed-ips 10.0.0.0/8,192.168.0.0/16,2001:db8::/32,127.0.0.0/8\n\trate-limit 1000000\n\n"
        ),
    )
    .expect("token-options.cfg");
    let restricted = Snapshot::load(config, 2).expect("snapshot with token options loads");
    let peer: IpAddr = "127.0.0.1".parse().expect("address");
    let tickets =
        TicketAuthority::open(&StateDir::new(&state), epoch_now(), TicketConfig::default())
            .expect("ticket keys");
    let Authid::User(userid) = &user_req.authid else {
        panic!("the second request is a user's");
    };
    let ticket = tickets.issue(userid, epoch_now()).expect("ticket").ticket;

    let mut token_headers = http::HeaderMap::new();
    token_headers.insert(
        http::header::AUTHORIZATION,
        format!("PVEAPIToken={tokenid}={secret}")
            .parse()
            .expect("header"),
    );
    let mut ticket_headers = http::HeaderMap::new();
    ticket_headers.insert(
        http::header::COOKIE,
        format!("PVEAuthCookie={ticket}").parse().expect("header"),
    );
    let now = aclgate::snapshot::now();
    // As the gateway does it: route match, `gate::authenticate`, parameters, `gate::decide`
    // (which applies the token's allowed-ips and rate limit).
    let limiter = RateLimiter::new();
    // `cached`: as the gateway does it (`gate::authenticate_request`, which answers a token
    // that verified before in this snapshot from the snapshot's cache); otherwise every
    // request parses the header and hashes the secret, as a snapshot's first request does.
    let through_gate = |snapshot: &Snapshot, headers: &http::HeaderMap, r: &Request, cached| {
        let Some(m) = snapshot.routes.find(r.method, r.path) else {
            return false;
        };
        let world = matches!(m.route.access, Access::World);
        let authenticated = if cached {
            gate::authenticate_request(snapshot, Some(&tickets), headers, world, now)
        } else {
            let credential = Credential::extract(headers);
            gate::authenticate(snapshot, Some(&tickets), credential, world, now)
        };
        let Ok(principal) = authenticated else {
            return false;
        };
        if principal.authid() != Some(&r.authid) {
            return false;
        }
        let needs_body = m.route.needs_body();
        let mut params = Params::new(m.path_params);
        if params.add_query(r.query).is_err() {
            return false;
        }
        if needs_body
            && params
                .add_body(Some("application/x-www-form-urlencoded"), r.body.as_bytes())
                .is_err()
        {
            return false;
        }
        let Ok(method) = r.method.parse::<http::Method>() else {
            return false;
        };
        let facts = Facts {
            method: &method,
            csrf: None,
            client: Some(peer),
            now,
        };
        let ctx = gate::Context {
            eval: EvalContext {
                engine: &snapshot.engine,
                users: &snapshot.user_cfg,
            },
            token_options: &snapshot.token_options,
            tickets: Some(&tickets),
            limiter: Some(&limiter),
        };
        gate::decide(&principal, Some(m.route), &params, &facts, &ctx).is_ok()
    };
    let full = |headers: &http::HeaderMap, r: &Request| through_gate(&snapshot, headers, r, true);
    let uncached =
        |headers: &http::HeaderMap, r: &Request| through_gate(&snapshot, headers, r, false);
    let full_restricted =
        |headers: &http::HeaderMap, r: &Request| through_gate(&restricted, headers, r, true);
    assert!(full(&token_headers, token_req), "token path authenticates");
    assert!(
        uncached(&token_headers, token_req),
        "uncached token path authenticates"
    );
    assert_eq!(
        snapshot.verified_tokens.len(),
        1,
        "the token's header is cached"
    );
    assert!(full(&ticket_headers, user_req), "ticket path authenticates");
    assert!(
        full_restricted(&token_headers, token_req),
        "restricted token path authenticates"
    );
    let mut group = c.benchmark_group("full path");
    group.bench_function("token: extract + verify + decide", |b| {
        b.iter(|| full(black_box(&token_headers), black_box(token_req)))
    });
    group.bench_function(
        "token, credential not cached (parse + salted SHA-256 every time) + decide",
        |b| b.iter(|| uncached(black_box(&token_headers), black_box(token_req))),
    );
    group.bench_function(
        "token with allowed-ips (4 networks) + rate limit: extract + verify + decide",
        |b| b.iter(|| full_restricted(black_box(&token_headers), black_box(token_req))),
    );
    group.bench_function(
        "ticket: extract + cached verify + user re-check + decide",
        |b| b.iter(|| full(black_box(&ticket_headers), black_box(user_req))),
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
