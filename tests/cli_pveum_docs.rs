//! The Proxmox documentation's examples, verbatim (with `aclgate` for `pveum`), give Proxmox's
//! answers: the token example step by step, and every `pveum` example of pveum.adoc
//! (tests/fixtures/cli/pveum_adoc/examples.txt) run in order, ending in the user.cfg and the
//! permission tables Proxmox writes and prints for them.

mod cli_support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use cli_support::State;

#[test]
fn documentation_token_example() {
    let s = State::new();
    s.ok(&["useradd", "joe@pve"]);
    s.ok(&["aclmod", "/vms", "-user", "joe@pve", "-role", "PVEVMAdmin"]);
    let added = s.json(&[
        "user",
        "token",
        "add",
        "joe@pve",
        "monitoring",
        "-privsep",
        "1",
    ]);
    assert_eq!(added["full-tokenid"], "joe@pve!monitoring");
    assert_eq!(added["info"], json!({"privsep": 1}));
    s.ok(&[
        "aclmod",
        "/vms",
        "-token",
        "joe@pve!monitoring",
        "-role",
        "PVEAuditor",
    ]);

    let joe = s.json(&["user", "permissions", "joe@pve"]);
    let vm_privs: serde_json::Map<String, serde_json::Value> = aclgate::access::Privilege::all()
        .filter(|p| p.name().starts_with("VM."))
        .map(|p| (p.name().to_owned(), json!(1)))
        .collect();
    assert_eq!(vm_privs.len(), 23);
    assert_eq!(joe, json!({ "/vms": vm_privs }));

    let token = s.json(&["user", "token", "permissions", "joe@pve", "monitoring"]);
    assert_eq!(
        token,
        json!({"/vms": {"VM.Audit": 1, "VM.GuestAgent.Audit": 1}})
    );

    // The full token id works with `user permissions` too, and --path prints empty paths.
    let by_id = s.json(&["user", "permissions", "joe@pve!monitoring"]);
    assert_eq!(by_id, token);
    let path = s.json(&[
        "user",
        "permissions",
        "joe@pve!monitoring",
        "--path",
        "/nodes",
    ]);
    assert_eq!(path, json!({"/nodes": {}}));
    let deeper = s.json(&[
        "user",
        "token",
        "permissions",
        "joe@pve",
        "monitoring",
        "-path",
        "/vms/100",
    ]);
    assert_eq!(
        deeper,
        json!({"/vms/100": {"VM.Audit": 1, "VM.GuestAgent.Audit": 1}})
    );

    // Text output as pveum prints it.
    let text = s.ok(&["user", "token", "permissions", "joe@pve", "monitoring"]);
    let want = "\
┌──────────┬─────────────────────────┐
│ ACL path │ Permissions             │
╞══════════╪═════════════════════════╡
│ /vms     │ VM.Audit (*)            │
│          │ VM.GuestAgent.Audit (*) │
└──────────┴─────────────────────────┘
Permissions marked with '(*)' have the 'propagate' flag set.
";
    assert_eq!(text, want);
}

fn adoc_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cli/pveum_adoc")
        .join(name)
}

/// Split a command line as the shell does for these examples: words, `'...'` and `"..."`.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    words.extend(word);
    words
}

#[test]
fn every_pveum_example_of_the_documentation() {
    let s = State::new();
    let text = std::fs::read_to_string(adoc_fixture("examples.txt")).unwrap();
    let mut stdin: Option<String> = None;
    let mut outputs = Vec::new();
    let mut ran = 0;
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with("skip:") || line.trim().is_empty() {
            continue;
        }
        if let Some(input) = line.strip_prefix("stdin: ") {
            stdin = Some(input.replace('|', "\n") + "\n");
            continue;
        }
        let fails = line.starts_with("fails: ");
        let command = line
            .strip_prefix("setup: ")
            .or_else(|| line.strip_prefix("fails: "))
            .unwrap_or(line);
        let words = shell_words(command);
        assert_eq!(words[0], "pveum", "{line}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
            .arg("--state-dir")
            .arg(s.root())
            .args(&words[1..])
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let input = stdin.take().unwrap_or_default();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if fails {
            // Proxmox refuses it too: exit 255 with a message, nothing written.
            assert_eq!(out.status.code(), Some(255), "{line}");
            assert!(!out.stderr.is_empty(), "{line}");
            continue;
        }
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push((
            line.trim().to_owned(),
            String::from_utf8(out.stdout).unwrap(),
        ));
        ran += 1;
    }
    assert_eq!(ran, 26, "examples run");
    let output = |cmd: &str| {
        outputs
            .iter()
            .find(|(l, _)| l == cmd)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| panic!("{cmd} did not run"))
    };
    assert!(output("pveum help user add").contains("user add"));
    // What Proxmox writes for these examples, and the tables it prints.
    let want = std::fs::read_to_string(adoc_fixture("user.cfg")).unwrap();
    assert_eq!(s.read("user.cfg"), want);
    let shadow = s.read("priv/shadow.cfg");
    assert!(
        shadow.contains("testuser:$") && shadow.contains("developer1:$"),
        "{shadow}"
    );
    for (cmd, fixture) in [
        ("pveum user permissions joe@pve", "user_permissions.txt"),
        (
            "pveum user token permissions joe@pve monitoring",
            "token_permissions.txt",
        ),
    ] {
        let want = std::fs::read_to_string(adoc_fixture(fixture)).unwrap();
        assert_eq!(output(cmd), want, "{cmd}");
    }
}
