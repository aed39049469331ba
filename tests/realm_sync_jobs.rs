//! Realm-sync jobs and tasks over TLS against a real slapd: unmodified proxmoxer creates,
//! lists, updates and reads a `/cluster/jobs/realm-sync` job and polls a sync's UPID with its
//! own `Tasks.blocking_status`; the scheduler starts the due job as a task; a task UPID that is
//! not aclgate's is forwarded; a sync that finds no users where the realm has some removes
//! nothing unless forced; a second sync of a busy realm is refused; a sync past its deadline
//! fails and writes nothing.

mod login_support;
#[allow(dead_code, reason = "the LDAP fixture serves several test files")]
mod support_ldap;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;

use aclgate::access_api::admin::sync_task::run_due;
use aclgate::auth::ticket::epoch_now;
use login_support::{Fixture, Running, clients_fixture, cookie, python, write_atomic};
use support_ldap::{ADMIN_DN, ADMIN_PW, BASE_DN, GROUP_BASE_DN, SYNC_LDIF, Slapd};

fn realm(slapd: &Slapd) -> String {
    format!(
        "ldap: dir\n\tserver1 127.0.0.1\n\tport {}\n\tmode ldaps\n\tverify 1\n\tcapath {}\n\
         \tbase_dn {BASE_DN}\n\tuser_attr uid\n\tbind_dn {ADMIN_DN}\n\tgroup_dn {GROUP_BASE_DN}\n\n",
        slapd.ldaps_port,
        slapd.ca_file.display()
    )
}

/// A root@pam session: (ticket, CSRF token).
fn root(run: &Running) -> (String, String) {
    let issued = run
        .services
        .tickets
        .issue(&"root@pam".parse().unwrap(), epoch_now())
        .unwrap();
    (issued.ticket, issued.csrf_token)
}

/// One request as root@pam: (status, body).
async fn call(run: &Running, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let (ticket, csrf) = root(run);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = run
        .client()
        .request(method, run.url(&format!("/api2/json{path}")))
        .header("Cookie", cookie(&ticket))
        .header("CSRFPreventionToken", csrf)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Poll a task until it stopped (as proxmoxer does); its status.
async fn wait(run: &Running, upid: &str) -> Value {
    let node = upid.split(':').nth(1).unwrap();
    loop {
        let (status, body) = call(
            run,
            "GET",
            &format!("/nodes/{node}/tasks/{upid}/status"),
            &[],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["status"] == "stopped" {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The task's log lines.
async fn log(run: &Running, upid: &str) -> Vec<String> {
    let node = upid.split(':').nth(1).unwrap();
    let (_, body) = call(
        run,
        "GET",
        &format!("/nodes/{node}/tasks/{upid}/log?limit=0"),
        &[],
    )
    .await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["t"].as_str().unwrap().to_owned())
        .collect()
}

async fn start_sync(run: &Running, realm: &str, form: &[(&str, &str)]) -> (u16, Value) {
    call(run, "POST", &format!("/access/domains/{realm}/sync"), form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmoxer_manages_jobs_and_polls_a_sync_task() {
    let slapd = Slapd::start();
    slapd.add(SYNC_LDIF);
    let fx = Fixture::new(&realm(&slapd)).await;
    write_atomic(
        &fx.state().join("priv/realm/dir.pw"),
        &format!("{ADMIN_PW}\n"),
    );
    let run = fx.start().await;
    let ca = fx.dir.path().join("certs/c.crt");
    let host = format!("127.0.0.1:{}", run.addr.port());
    let (ticket, _) = root(&run);

    let mut cmd = std::process::Command::new(python());
    cmd.arg(clients_fixture("proxmoxer_sync.py")).args([
        host.as_str(),
        ca.to_str().unwrap(),
        ticket.as_str(),
        "dir",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: BTreeMap<String, Value> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["step"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    for name in [
        "create_job",
        "create_twice",
        "create_bad_schedule",
        "create_pve_realm",
        "list_jobs",
        "update_job",
        "update_realm_refused",
        "get_job",
        "sync",
        "blocking_status",
        "log",
        "log_page",
        "users_synced",
    ] {
        let step = steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}: {stdout}"));
        assert_eq!(step["pass"], true, "step {name}: {step}\n{stdout}");
    }

    // jobs.cfg is written as Proxmox writes it; the job's state sits in priv/jobs.
    let jobs_cfg = std::fs::read_to_string(fx.state().join("jobs.cfg")).unwrap();
    assert_eq!(
        jobs_cfg,
        "realm-sync: nightly\n\trealm dir\n\tschedule */15\n\tscope both\n\
         \tcomment every quarter hour\n\tenable-new 1\n\tremove-vanished acl\n"
    );
    assert!(
        fx.state()
            .join("priv/jobs/realm-sync-nightly.json")
            .is_file()
    );

    // Not yet due: nothing starts. An hour later the scheduler starts the job as root@pam.
    let now = epoch_now();
    assert!(
        run_due(&run.services, now).is_empty(),
        "started before its time"
    );
    let started = run_due(&run.services, now + 3600);
    assert_eq!(started.len(), 1, "{started:?}");
    let (id, upid) = &started[0];
    assert_eq!(id, "nightly");
    let upid = upid.as_ref().unwrap().to_string();
    assert!(upid.contains(":auth-realm-sync:dir:root@pam:"), "{upid}");
    let task = wait(&run, &upid).await;
    assert_eq!(task["exitstatus"], "OK", "{task}");
    let lines = log(&run, &upid).await;
    assert!(
        lines.contains(&"syncing users (remove-vanished opts: acl)".to_owned()),
        "{lines:?}"
    );
    let (_, list) = call(&run, "GET", "/cluster/jobs/realm-sync", &[]).await;
    let job = &list["data"][0];
    assert_eq!(job["last-run"], task["starttime"], "{list}");
    let next = job["next-run"].as_i64().unwrap();
    assert!(
        next > job["last-run"].as_i64().unwrap() && next % 900 == 0,
        "{list}"
    );
    // Once run, it is not due again before its next event.
    let last = task["starttime"].as_i64().unwrap();
    assert!(run_due(&run.services, last).is_empty());
    assert!(run_due(&run.services, next - 1).is_empty());

    // A task of another node is not aclgate's: it goes to the upstream.
    let before = fx.upstream.count();
    let other = "UPID:pve1:00001234:00005678:65A1B2C3:vzdump:100:root@pam:";
    let (_, _) = call(
        &run,
        "GET",
        &format!("/nodes/pve1/tasks/{other}/status"),
        &[],
    )
    .await;
    assert_eq!(
        fx.upstream.count(),
        before + 1,
        "the foreign task was not forwarded"
    );
    let seen = fx.upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        seen.path,
        format!("/api2/json/nodes/pve1/tasks/{other}/status")
    );

    // Deleted: gone from the list, its state file with it.
    let (status, body) = call(&run, "DELETE", "/cluster/jobs/realm-sync/nightly", &[]).await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = call(&run, "GET", "/cluster/jobs/realm-sync", &[]).await;
    assert_eq!(list["data"], serde_json::json!([]));
    assert!(
        !fx.state()
            .join("priv/jobs/realm-sync-nightly.json")
            .exists()
    );
    let (status, body) = call(&run, "DELETE", "/cluster/jobs/realm-sync/nightly", &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"]["id"], "No such job 'nightly'", "{body}");
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_answer_removes_nothing_unless_forced() {
    let slapd = Slapd::start();
    slapd.add(SYNC_LDIF);
    let fx = Fixture::new(&realm(&slapd)).await;
    write_atomic(
        &fx.state().join("priv/realm/dir.pw"),
        &format!("{ADMIN_PW}\n"),
    );
    let run = fx.start().await;
    let user_cfg = || std::fs::read_to_string(fx.state().join("user.cfg")).unwrap();

    let (status, body) = start_sync(&run, "dir", &[("scope", "users")]).await;
    assert_eq!(status, 200, "{body}");
    let task = wait(&run, body["data"].as_str().unwrap()).await;
    assert_eq!(task["exitstatus"], "OK", "{task}");
    assert!(user_cfg().contains("user:carol@dir:"), "{}", user_cfg());

    // A filter that matches nobody: the directory answers no users at all.
    let (status, body) = call(
        &run,
        "PUT",
        "/access/domains/dir",
        &[("filter", "(uid=nobody)")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before = user_cfg();
    let form = [("scope", "users"), ("remove-vanished", "acl;entry")];
    let (status, body) = start_sync(&run, "dir", &form).await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_owned();
    let task = wait(&run, &upid).await;
    assert_eq!(
        task["exitstatus"],
        "the directory returned no users but realm 'dir' has 3: refusing to remove them (pass 'force' to sync anyway)",
        "{task}"
    );
    assert_eq!(
        log(&run, &upid).await.last().unwrap(),
        &format!("TASK ERROR: {}", task["exitstatus"].as_str().unwrap())
    );
    assert_eq!(user_cfg(), before, "the refused sync wrote user.cfg");

    // Forced, the sync removes them.
    let mut forced = form.to_vec();
    forced.push(("force", "1"));
    let (status, body) = start_sync(&run, "dir", &forced).await;
    assert_eq!(status, 200, "{body}");
    let task = wait(&run, body["data"].as_str().unwrap()).await;
    assert_eq!(task["exitstatus"], "OK", "{task}");
    assert!(!user_cfg().contains("@dir:"), "{}", user_cfg());
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_per_realm_and_each_within_its_deadline() {
    // A directory that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let fx = Fixture::new(&format!(
        "ldap: slow\n\tserver1 127.0.0.1\n\tport {port}\n\tmode ldap\n\tbase_dn {BASE_DN}\n\tuser_attr uid\n\n"
    ))
    .await;
    let run = fx
        .start_with(|c| {
            c.auth.ldap_timeout_ms = 60_000;
            c.auth.sync_deadline_ms = 1_500;
        })
        .await;
    let before = std::fs::read_to_string(fx.state().join("user.cfg")).unwrap();

    let (status, body) = start_sync(&run, "slow", &[("scope", "both")]).await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_owned();
    let (status, body) = start_sync(&run, "slow", &[("scope", "users")]).await;
    assert_eq!(status, 400, "a second sync of a busy realm: {body}");
    assert_eq!(
        body["message"],
        "a sync of realm 'slow' is already running\n"
    );

    let started = std::time::Instant::now();
    let task = wait(&run, &upid).await;
    assert_eq!(
        task["exitstatus"], "sync of realm 'slow' did not finish within 1.5 s, nothing was changed",
        "{task}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the deadline did not end it"
    );
    assert_eq!(
        std::fs::read_to_string(fx.state().join("user.cfg")).unwrap(),
        before
    );
    // The lock went with the task: the realm can be synced again.
    let (status, body) = start_sync(&run, "slow", &[("scope", "users")]).await;
    assert_eq!(status, 200, "{body}");
    wait(&run, body["data"].as_str().unwrap()).await;
    holder.abort();
    run.shutdown().await;
}
