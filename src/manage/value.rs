//! Parsing of values the way pveum and the API read them: booleans as 1/0, yes/no, on/off,
//! true/false; lists split on `,`, `;` and whitespace; ids parsed at the edge.

use std::str::FromStr;

use crate::config::StateError;
use crate::identity::IdError;

/// A pveum boolean: `1/0`, `yes/no`, `on/off`, `true/false` (any case).
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Ok(true),
        "0" | "no" | "off" | "false" => Ok(false),
        _ => Err(format!("type check ('boolean') failed - got '{text}'")),
    }
}

/// Split a list option on runs of `,`, `;` and whitespace; empty items vanish.
pub fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// Parse an identifier, turning a bad one into a rejection.
pub fn parse_id<T: FromStr<Err = IdError>>(text: &str) -> Result<T, StateError> {
    text.parse().map_err(|e: IdError| reject(e.to_string()))
}

/// A rejected request: the message is shown to the user and nothing is written.
pub fn reject(message: impl Into<String>) -> StateError {
    StateError::Rejected(message.into())
}

/// Proxmox's `email-opt` format: empty, or `local@domain` with `[\w+~-]` dot-separated local
/// parts and `[A-Za-z0-9-]` dot-separated domain labels.
pub fn is_email(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = local.split('.').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '-' | '~'))
    });
    let domain_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (text, want) in [
            ("1", Some(true)),
            ("0", Some(false)),
            ("yes", Some(true)),
            ("No", Some(false)),
            ("ON", Some(true)),
            ("off", Some(false)),
            ("true", Some(true)),
            ("False", Some(false)),
            ("2", None),
            ("", None),
        ] {
            assert_eq!(parse_bool(text).ok(), want, "parse_bool({text:?})");
        }
    }

    #[test]
    fn lists() {
        for (text, want) in [
            ("a,b;c d", vec!["a", "b", "c", "d"]),
            (" ,;a ,, b\t", vec!["a", "b"]),
            ("", vec![]),
        ] {
            assert_eq!(
                split_list(text).collect::<Vec<_>>(),
                want,
                "split_list({text:?})"
            );
        }
    }

    #[test]
    fn emails() {
        for (text, want) in [
            ("", true),
            ("joe@example.com", true),
            ("j.o+e~x@a-b.c", true),
            ("joe", false),
            ("joe@", false),
            ("@x.y", false),
            ("a..b@x", false),
            ("a@x..y", false),
            ("a b@x", false),
        ] {
            assert_eq!(is_email(text), want, "is_email({text:?})");
        }
    }
}
