//! The Proxmox documentation's token example, verbatim (with `aclgate` for `pveum`), gives
//! Proxmox's answers.

mod cli_support;

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
├──────────┼─────────────────────────┤
│ /vms     │ VM.Audit (*)            │
│          │ VM.GuestAgent.Audit (*) │
└──────────┴─────────────────────────┘
Permissions marked with '(*)' have the 'propagate' flag set.
";
    assert_eq!(text, want);
}
