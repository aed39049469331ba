//! `token-options.cfg` as the real binary writes it: canonical form, the extra `user token
//! list` columns, refused changes that write nothing, and clean-up when a token or its user is
//! deleted. (The gateway side is in tests/token_options.rs.)

mod cli_support;

use cli_support::State;

#[test]
fn options_are_written_canonically_listed_and_cleaned_up() {
    let cli = State::new();
    cli.ok(&["user", "add", "joe@pve"]);
    cli.ok(&["user", "token", "add", "joe@pve", "plain"]);
    let table = cli.ok(&["user", "token", "list", "joe@pve"]);
    assert!(
        !table.contains("allowed-ips"),
        "pveum's table unchanged:\n{table}"
    );

    let out = cli.json(&[
        "user",
        "token",
        "add",
        "joe@pve",
        "ci",
        "--allowed-ips",
        "10.0.0.0/8, ::1;10.0.0.0/8",
        "--rate-limit",
        "5",
    ]);
    assert_eq!(out["info"]["allowed-ips"], "10.0.0.0/8,::1/128", "{out}");
    assert_eq!(out["info"]["rate-limit"], 5, "{out}");
    let canonical = "token: joe@pve!ci\n\tallowed-ips 10.0.0.0/8,::1/128\n\trate-limit 5\n\n";
    assert_eq!(cli.read("token-options.cfg"), canonical);
    assert!(
        !cli.read("user.cfg").contains("10.0.0.0"),
        "user.cfg stays Proxmox's"
    );
    let table = cli.ok(&["user", "token", "list", "joe@pve"]);
    assert!(
        table.contains("allowed-ips") && table.contains("rate-limit"),
        "{table}"
    );

    // Refused changes name the problem and write nothing.
    let check = |args: &[&str], want: &str| {
        let mut all = vec!["user", "token", "modify", "joe@pve", "ci"];
        all.extend(args);
        let err = cli.fails(&all);
        assert!(err.contains(want), "{args:?}: {err}");
    };
    check(
        &["--allowed-ips", "10.0.0.1/8"],
        "did you mean `10.0.0.0/8`",
    );
    check(
        &["--allowed-ips", "nowhere"],
        "`nowhere` is not an IP address",
    );
    check(&["--allowed-ips", ","], "empty list");
    check(
        &["--allowed-ips", "::1", "--delete", "allowed-ips"],
        "at the same time",
    );
    check(&["--rate-limit", "0"], "from 1 to 1000000");
    check(
        &["--delete", "rate-limit", "--rate-burst", "3"],
        "needs 'rate-limit'",
    );
    check(&["--overlap", "60"], "'overlap' needs 'regenerate'");
    check(&["--regenerate", "--overlap", "2592001"], "at most 2592000");
    check(&["--delete", "colour"], "cannot delete setting 'colour'");

    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "ci",
        "--rate-burst",
        "9",
    ]);
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "ci",
        "--delete",
        "allowed-ips",
    ]);
    assert_eq!(
        cli.read("token-options.cfg"),
        "token: joe@pve!ci\n\trate-limit 5\n\trate-burst 9\n\n"
    );
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "ci",
        "--delete",
        "rate-limit",
    ]);
    assert_eq!(cli.read("token-options.cfg"), "", "rate-burst went with it");

    // Deleting the token, or its user, drops its options.
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "ci",
        "--rate-limit",
        "5",
    ]);
    cli.ok(&["user", "token", "delete", "joe@pve", "ci"]);
    assert_eq!(cli.read("token-options.cfg"), "");
    cli.ok(&["user", "token", "add", "joe@pve", "ci", "--rate-limit", "5"]);
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "plain",
        "--allowed-ips",
        "::1",
    ]);
    cli.ok(&["user", "add", "ann@pve"]);
    cli.ok(&[
        "user",
        "token",
        "add",
        "ann@pve",
        "tk",
        "--allowed-ips",
        "::1",
    ]);
    cli.ok(&["user", "delete", "joe@pve"]);
    assert_eq!(
        cli.read("token-options.cfg"),
        "token: ann@pve!tk\n\tallowed-ips ::1/128\n\n"
    );
    // A token created again under an old name starts without the old options.
    cli.ok(&["user", "add", "joe@pve"]);
    cli.ok(&["user", "token", "add", "joe@pve", "ci"]);
    let list = cli.json(&["user", "token", "list", "joe@pve"]);
    assert!(list[0].get("rate-limit").is_none(), "{list}");
}
