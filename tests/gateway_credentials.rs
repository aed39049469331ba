//! The credential invariant (issue 11): whatever form of a credential authenticates a request
//! never reaches the upstream. Proxmox's finder accepts the key after any whitespace and `=` or
//! one space before the value, so `lang=en PVEAuthCookie=T` and `PVEAuthCookie T` authenticate
//! as well as the `;`-separated cookie does; every one of them must be stripped.

mod login_support;

use login_support::{Fixture, Running, cookie};

const GET_VM: &str = "/api2/json/nodes/n1/qemu/100/status/current";
const WORLD: &str = "/api2/json/open";

/// Whether any header the upstream saw carries the ticket, raw or percent-encoded.
fn leaked(fx: &Fixture, ticket: &str) -> Option<String> {
    let encoded = cookie(ticket);
    let encoded = encoded.trim_start_matches("PVEAuthCookie=");
    let seen = fx.upstream.seen.lock().unwrap().last().cloned()?;
    seen.headers
        .iter()
        .find(|(_, v)| {
            let v = String::from_utf8_lossy(v.as_bytes());
            v.contains(ticket) || v.contains(encoded) || v.contains("PVEAuthCookie")
        })
        .map(|(k, v)| format!("{k}: {v:?}"))
}

async fn get(gw: &Running, path: &str, header: (&str, &str)) -> u16 {
    gw.client()
        .get(gw.url(path))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_accepted_ticket_form_is_stripped_before_forwarding() {
    let fx = Fixture::new("").await;
    let policy = std::fs::read_to_string(fx.dir.path().join("policies/test.toml")).unwrap();
    fx.write_policy(
        "test.toml",
        &format!("{policy}\n[[route]]\nmethod = \"GET\"\npath = \"/open\"\nuser = \"world\"\n"),
    );
    let gw = fx.start().await;
    let (ticket, _) = gw.ticket("joe@pve", "joe-secret-1").await;
    let enc = cookie(&ticket);
    let enc_value = enc.trim_start_matches("PVEAuthCookie=");
    let forms = [
        ("cookie", format!("lang=en; {enc}")),
        ("cookie", format!("lang=en {enc}")),
        ("cookie", format!("PVEAuthCookie {enc_value}")),
        (
            "cookie",
            format!("lang=en PVEAuthCookie {enc_value}; theme=dark"),
        ),
        ("cookie", format!("lang=en\t{enc}")),
        ("authorization", format!("PVEAuthCookie {ticket}")),
        ("authorization", format!("Bearer x PVEAuthCookie={ticket}")),
    ];
    for (name, value) in &forms {
        let before = fx.upstream.count();
        let status = get(&gw, GET_VM, (name, value)).await;
        assert_eq!(status, 200, "{name}: {value} should authenticate");
        assert_eq!(fx.upstream.count(), before + 1, "{name}: {value}");
        assert_eq!(leaked(&fx, &ticket), None, "{name}: {value} leaked");
        // World routes ignore credentials, but must not forward them either.
        let status = get(&gw, WORLD, (name, value)).await;
        assert_eq!(status, 200, "{name}: {value} on a world route");
        assert_eq!(leaked(&fx, &ticket), None, "{name}: {value} leaked (world)");
    }
    // Other cookies survive.
    let value = format!("lang=en {enc}; theme=dark");
    assert_eq!(get(&gw, GET_VM, ("cookie", &value)).await, 200);
    let seen = fx.upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.headers["cookie"], "lang=en; theme=dark");
    gw.shutdown().await;
}
