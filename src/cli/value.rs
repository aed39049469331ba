//! Option-value parsing for the CLI: the shared rules live in [`crate::manage::value`]; here
//! pveum's repeated list options ([`join_repeated_lists`]).

pub use crate::manage::value::{parse_bool, parse_id, reject, split_list};

use std::ffi::OsString;

/// The pveum options of a `-list` format: given several times, their values are joined with
/// `,` (`-vms 110 -vms 111` is `-vms 110,111`), as pve-common's `get_options` does.
const LIST_OPTIONS: [&str; 7] = [
    "groups", "privs", "roles", "storage", "tokens", "users", "vms",
];

/// Merge repeated list options (already in `--name` form, any unambiguous prefix of at least
/// three letters) into one `--name=a,b` at the place of the first; `--` ends the options.
pub fn join_repeated_lists(args: Vec<OsString>) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::with_capacity(args.len());
    // (list option, index in `out` of its merged argument, values so far)
    let mut merged: Vec<(&str, usize, Vec<String>)> = Vec::new();
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let text = arg.to_str().map(str::to_owned);
        if text.as_deref() == Some("--") {
            out.push(arg);
            out.extend(iter);
            break;
        }
        let Some((name, inline)) = text.as_deref().and_then(list_option) else {
            out.push(arg);
            continue;
        };
        let value = match inline {
            Some(v) => v,
            None => match iter.peek().and_then(|v| v.to_str()) {
                Some(v) if !v.starts_with("--") => {
                    let v = v.to_owned();
                    iter.next();
                    v
                }
                // No value: leave it to the parser to complain.
                _ => {
                    out.push(arg);
                    continue;
                }
            },
        };
        match merged.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, _, values)) => values.push(value),
            None => {
                merged.push((name, out.len(), vec![value]));
                out.push(OsString::new());
            }
        }
    }
    for (name, at, values) in merged {
        out[at] = OsString::from(format!("--{name}={}", values.join(",")));
    }
    out
}

/// `--name[=value]` naming a list option (or an unambiguous prefix of one).
fn list_option(arg: &str) -> Option<(&'static str, Option<String>)> {
    let body = arg.strip_prefix("--")?;
    let (name, inline) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (body, None),
    };
    if name.len() < 3 {
        return None;
    }
    let mut found = LIST_OPTIONS.iter().filter(|o| o.starts_with(name));
    let first = found.next()?;
    found.next().is_none().then_some((*first, inline))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], want: &[&str]) {
        let args = input.iter().map(OsString::from).collect();
        let got = join_repeated_lists(args);
        let want: Vec<OsString> = want.iter().map(OsString::from).collect();
        assert_eq!(got, want, "join_repeated_lists({input:?})");
    }

    #[test]
    fn repeated_lists_are_joined() {
        check(
            &[
                "aclgate",
                "pool",
                "modify",
                "p",
                "--vms",
                "110",
                "--vms=111",
                "--storage",
                "local",
            ],
            &[
                "aclgate",
                "pool",
                "modify",
                "p",
                "--vms=110,111",
                "--storage=local",
            ],
        );
        check(
            &[
                "aclgate",
                "useradd",
                "x@pve",
                "--group",
                "g1",
                "--groups",
                "g2",
                "--comment",
                "c",
            ],
            &[
                "aclgate",
                "useradd",
                "x@pve",
                "--groups=g1,g2",
                "--comment",
                "c",
            ],
        );
        check(
            &[
                "aclgate", "role", "add", "R", "--privs", "A", "--privs", "B",
            ],
            &["aclgate", "role", "add", "R", "--privs=A,B"],
        );
        check(
            &["aclgate", "--", "--vms", "1"],
            &["aclgate", "--", "--vms", "1"],
        );
        check(
            &["aclgate", "--propagate", "0"],
            &["aclgate", "--propagate", "0"],
        );
        check(&["aclgate", "--vms"], &["aclgate", "--vms"]);
    }
}
