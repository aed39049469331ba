//! The `/access/tfa` management handlers against the real handler, state directory and reload
//! task: a TOTP entry added with a code from an independent implementation (pyotp in `.venv`,
//! set up by scripts/test.sh), listed, disabled, re-enabled and deleted with user.cfg `keys`
//! in step; recovery keys shown once; unlock-tfa; §7.9's own-password and root rules; other
//! users' entries refused without privileges. (The routes need users and refuse tokens, so
//! the handler is called directly, as in api_password.rs.)

mod api_handler_support;
mod gateway_support;

use std::path::Path;
use std::process::Command;

use aclgate::access_api::ApiError;
use aclgate::auth::tfa::TfaStore;
use aclgate::identity::Userid;
use serde_json::Value;

use api_handler_support::Harness;

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

const USERS: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:::::
user:bob@pve:1:0:::::
user:carol@pve:1:0:::::
group:staff:carol@pve::
acl:1:/access/groups/staff:bob@pve:PVEUserAdmin:
";

async fn harness() -> Harness {
    Harness::start(USERS, &[("alice", "alice-pw"), ("bob", "bob-pw1")]).await
}

impl Harness {
    fn keys(&self, userid: &str) -> String {
        let userid: Userid = userid.parse().unwrap();
        let cfg = self.services.state.load().unwrap().user_cfg;
        cfg.users[&userid].keys.clone()
    }

    async fn add_totp(
        &self,
        caller: &str,
        userid: &str,
        password: &str,
    ) -> Result<Value, ApiError> {
        let form = format!(
            "userid={}&type=totp&description=phone&totp={}&value={}&password={password}",
            userid.replace('@', "%40"),
            urlencode(&format!("otpauth://totp/x?secret={SECRET}")),
            pyotp_now(SECRET)
        );
        self.call("access.tfa.add", caller, &form).await
    }
}

/// The current code pyotp computes for `secret` (30 s, 6 digits, SHA-1).
fn pyotp_now(secret: &str) -> String {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/test.sh to create the pyotp venv",
        python.display()
    );
    let out = Command::new(&python)
        .args([
            "-c",
            &format!("import pyotp; print(pyotp.TOTP('{secret}').now())"),
        ])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn entries(list: &Value) -> Vec<(String, bool)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["enable"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn totp_lifecycle_keeps_keys_in_step() {
    let h = harness().await;
    let id = h
        .add_totp("alice@pve", "alice@pve", "alice-pw")
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(h.keys("alice@pve"), "x", "first entry sets keys");

    let list = h.call("access.tfa.list", "alice@pve", "").await.unwrap();
    let users: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userid"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice@pve"]);
    assert_eq!(entries(&list[0]["entries"]), [("totp".to_owned(), true)]);
    let mine = format!("userid=alice%40pve&id={id}");

    let pw = "&password=alice-pw";
    h.call(
        "access.tfa.update",
        "alice@pve",
        &format!("{mine}&enable=0{pw}"),
    )
    .await
    .unwrap();
    let one = h.call("access.tfa.get", "alice@pve", &mine).await.unwrap();
    assert_eq!(one["enable"], Value::Bool(false), "{one}");
    assert_eq!(one["description"], "phone");
    h.call(
        "access.tfa.update",
        "alice@pve",
        &format!("{mine}&enable=1&description=new%20phone{pw}"),
    )
    .await
    .unwrap();
    let one = h.call("access.tfa.get", "alice@pve", &mine).await.unwrap();
    assert_eq!(
        (&one["enable"], &one["description"]),
        (&Value::Bool(true), &Value::from("new phone"))
    );

    h.call("access.tfa.delete", "alice@pve", &format!("{mine}{pw}"))
        .await
        .unwrap();
    assert_eq!(h.keys("alice@pve"), "", "last entry clears keys");
    let r = h.call("access.tfa.get", "alice@pve", &mine).await;
    assert!(matches!(r, Err(ApiError::NotFound(_))), "{r:?}");
    let list = h
        .call("access.tfa.user_list", "alice@pve", "userid=alice%40pve")
        .await
        .unwrap();
    assert_eq!(list, Value::Array(vec![]));
}

#[tokio::test]
async fn wrong_totp_code_adds_nothing() {
    let h = harness().await;
    let code = pyotp_now(SECRET);
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let form = format!(
        "userid=alice%40pve&type=totp&description=phone&totp={}&value={wrong}&password=alice-pw",
        urlencode(&format!("otpauth://totp/x?secret={SECRET}"))
    );
    let r = h.call("access.tfa.add", "alice@pve", &form).await;
    assert!(matches!(r, Err(ApiError::BadRequest(_))), "{r:?}");
    assert_eq!(h.keys("alice@pve"), "");
}

#[tokio::test]
async fn recovery_keys_are_returned_once() {
    let h = harness().await;
    let form = "userid=alice%40pve&type=recovery&password=alice-pw";
    let out = h.call("access.tfa.add", "alice@pve", form).await.unwrap();
    assert_eq!(out["id"], "recovery");
    let keys = out["recovery"].as_array().unwrap();
    assert_eq!(keys.len(), 10, "{out}");
    assert_eq!(h.keys("alice@pve"), "x");
    let listed = h
        .call(
            "access.tfa.get",
            "alice@pve",
            "userid=alice%40pve&id=recovery",
        )
        .await
        .unwrap();
    assert!(
        listed.get("recovery").is_none(),
        "keys never listed: {listed}"
    );
    for k in keys {
        assert!(!listed.to_string().contains(k.as_str().unwrap()));
    }
    let r = h.call("access.tfa.add", "alice@pve", form).await;
    assert!(
        matches!(r, Err(ApiError::BadRequest(_))),
        "second set: {r:?}"
    );
}

#[tokio::test]
async fn own_password_is_required() {
    let h = harness().await;
    let check = |r: Result<Value, ApiError>, what: &str, param: bool| {
        let ok = if param {
            matches!(&r, Err(ApiError::Params(e)) if e.contains_key("password"))
        } else {
            matches!(&r, Err(ApiError::Forbidden(_)))
        };
        assert!(ok, "{what}: {r:?}");
    };
    let base = "userid=alice%40pve&type=recovery";
    check(
        h.call("access.tfa.add", "alice@pve", base).await,
        "missing",
        true,
    );
    check(
        h.call(
            "access.tfa.add",
            "alice@pve",
            &format!("{base}&password=bob-pw1"),
        )
        .await,
        "another user's password",
        false,
    );
    check(
        h.call(
            "access.tfa.add",
            "alice@pve",
            &format!("{base}&password=wrong-pw"),
        )
        .await,
        "wrong",
        false,
    );
    assert_eq!(h.keys("alice@pve"), "", "nothing added");
    // root@pam needs no confirmation.
    h.call("access.tfa.add", "root@pam", base).await.unwrap();
    assert_eq!(h.keys("alice@pve"), "x");
}

#[tokio::test]
async fn other_users_and_root_are_protected() {
    let h = harness().await;
    h.add_totp("alice@pve", "alice@pve", "alice-pw")
        .await
        .unwrap();
    h.add_totp("root@pam", "carol@pve", "").await.unwrap();
    h.add_totp("root@pam", "root@pam", "").await.unwrap();
    let forbidden = |r: Result<Value, ApiError>, what: &str| {
        assert!(matches!(r, Err(ApiError::Forbidden(_))), "{what}: {r:?}");
    };
    // bob holds User.Modify only on group staff (carol).
    forbidden(
        h.call("access.tfa.user_list", "bob@pve", "userid=alice%40pve")
            .await,
        "bob lists alice",
    );
    forbidden(
        h.add_totp("bob@pve", "alice@pve", "bob-pw1").await,
        "bob adds to alice",
    );
    forbidden(
        h.call("access.tfa.unlock", "bob@pve", "userid=alice%40pve")
            .await,
        "bob unlocks alice",
    );
    forbidden(
        h.add_totp("alice@pve", "root@pam", "alice-pw").await,
        "alice adds to root",
    );
    let carol = h
        .call("access.tfa.user_list", "bob@pve", "userid=carol%40pve")
        .await
        .unwrap();
    assert_eq!(entries(&carol), [("totp".to_owned(), true)]);
    h.add_totp("bob@pve", "carol@pve", "bob-pw1").await.unwrap();

    let listed = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["userid"].as_str().unwrap().to_owned())
            .collect()
    };
    let bob_sees = listed(h.call("access.tfa.list", "bob@pve", "").await.unwrap());
    assert_eq!(bob_sees, ["carol@pve"]);
    let root_sees = listed(h.call("access.tfa.list", "root@pam", "").await.unwrap());
    assert_eq!(root_sees, ["alice@pve", "carol@pve", "root@pam"]);
    let types = h
        .call(
            "access.tfa.user_types",
            "bob@pve",
            "userid=carol%40pve&multiple=1",
        )
        .await
        .unwrap();
    assert_eq!(types, serde_json::json!({ "user": ["totp"] }));
}

#[tokio::test]
async fn unlock_reports_whether_locked() {
    let h = harness().await;
    h.add_totp("alice@pve", "alice@pve", "alice-pw")
        .await
        .unwrap();
    let alice: Userid = "alice@pve".parse().unwrap();
    TfaStore::modify(&h.services.state, |store| {
        store.users.get_mut(&alice).unwrap().totp_locked = true;
        Ok(())
    })
    .unwrap();
    let list = h.call("access.tfa.list", "alice@pve", "").await.unwrap();
    assert_eq!(list[0]["totp-locked"], Value::Bool(true), "{list}");
    let r = h
        .call("access.tfa.unlock", "root@pam", "userid=alice%40pve")
        .await
        .unwrap();
    assert_eq!(r, Value::Bool(true));
    let r = h
        .call("access.tfa.unlock", "root@pam", "userid=alice%40pve")
        .await
        .unwrap();
    assert_eq!(r, Value::Bool(false));
    let list = h.call("access.tfa.list", "alice@pve", "").await.unwrap();
    assert!(list[0].get("totp-locked").is_none(), "{list}");
    assert_eq!(
        entries(&list[0]["entries"]),
        [("totp".to_owned(), true)],
        "entries kept"
    );
}
