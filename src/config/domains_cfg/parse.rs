//! The lenient `domains.cfg` reader (`PVE::SectionConfig::parse_config` as used by
//! `PVE::Auth::Plugin::parse_config`).
//!
//! A section is a header `<type>: <realm>` followed by property lines that start with
//! whitespace; an empty line ends it; `#` lines are skipped anywhere. A bad realm name or an
//! unknown type skips the whole section, a bad or duplicate property skips that property, a
//! missing required option skips the section: each with a [`Warning`] naming the line.

use super::{DomainsConfig, RealmConfig, RealmType, Warning, options};
use crate::config::text::{decode_text, is_perl_space};
use crate::identity::Realm;

pub(super) fn parse(text: &str) -> (DomainsConfig, Vec<Warning>) {
    let mut cfg = DomainsConfig { realms: Vec::new() };
    let mut warnings = Vec::new();
    let mut lines = Lines::new(text);
    while let Some((lineno, line)) = lines.next_line() {
        if is_falsy(line) {
            continue;
        }
        let Some((type_word, id)) = section_header(line) else {
            warnings.push(warn(lineno, format!("ignore config line: {line}")));
            continue;
        };
        let mut section = open_section(lineno, &type_word, id, &mut warnings);
        let mut last_line = lineno;
        while let Some((n, line)) = lines.next_line() {
            if is_falsy(line) {
                break;
            }
            last_line = n;
            if let Some(section) = section.as_mut() {
                property(section, n, line, &mut warnings);
            }
        }
        let Some(section) = section else { continue };
        if let Err(e) = section.check_required() {
            warnings.push(warn(
                last_line,
                format!("skip section `{}`: {e}", section.realm),
            ));
            continue;
        }
        if cfg.realm(section.realm.as_str()).is_some() {
            warnings.push(warn(
                lineno,
                format!(
                    "section `{}` defined again; the later one wins",
                    section.realm
                ),
            ));
            // Proxmox keeps the later one and gives it the later position.
            cfg.remove(section.realm.as_str());
        }
        cfg.realms.push(section);
    }
    keep_one_default(&mut cfg, &mut warnings);
    cfg.force_builtin();
    (cfg, warnings)
}

/// A section being read, or `None` when it is skipped (its property lines are consumed).
fn open_section(
    lineno: usize,
    type_word: &str,
    id: &str,
    warnings: &mut Vec<Warning>,
) -> Option<RealmConfig> {
    let realm: Realm = match id.parse() {
        Ok(r) => r,
        Err(_) => {
            warnings.push(warn(
                lineno,
                format!("skip section `{id}`: value does not look like a valid realm"),
            ));
            return None;
        }
    };
    match type_word.parse::<RealmType>() {
        Ok(kind) => Some(RealmConfig::new(realm, kind)),
        Err(_) => {
            warnings.push(warn(
                lineno,
                format!("skip section `{id}`: unsupported type `{type_word}`"),
            ));
            None
        }
    }
}

/// One property line of a section that is being kept.
fn property(section: &mut RealmConfig, lineno: usize, line: &str, warnings: &mut Vec<Warning>) {
    let Some((key, value)) = property_line(line) else {
        warnings.push(warn(
            lineno,
            format!("section `{}`: ignore config line: {line}", section.realm),
        ));
        return;
    };
    let refuse = |why: String| {
        warn(
            lineno,
            format!(
                "section `{}`: unable to parse value of `{key}`: {why}",
                section.realm
            ),
        )
    };
    if key == "password" {
        // Never keep a secret from this 0640 file (Proxmox never writes one here either).
        warnings.push(refuse(
            "the bind password belongs in priv/realm/<realm>.pw; ignored".into(),
        ));
        return;
    }
    if section.options.contains_key(key) {
        warnings.push(refuse("duplicate attribute".into()));
        return;
    }
    let is_bool = options::spec(section.kind, key).is_some_and(|s| s.kind == options::Kind::Bool);
    let value = match value {
        Some(v) => v,
        // A bare boolean key means 1.
        None if is_bool => "1",
        None => {
            warnings.push(refuse("got undefined value".into()));
            return;
        }
    };
    // Decoded before the check, as Proxmox's `decode_value` runs before `check_value`: the
    // length limit applies to the comment as kept (and written encoded again).
    let decoded;
    let value = if key == "comment" {
        decoded = decode_text(value);
        decoded.as_str()
    } else {
        value
    };
    match options::check_value(section.kind, key, value) {
        Ok(v) => {
            section.options.insert(key.to_owned(), v);
        }
        Err(e) => warnings.push(refuse(e.to_string())),
    }
}

/// Several `default 1`: keep the first in file order (Proxmox keeps an arbitrary one).
fn keep_one_default(cfg: &mut DomainsConfig, warnings: &mut Vec<Warning>) {
    let mut seen = false;
    for r in &mut cfg.realms {
        if r.is_default() {
            if seen {
                r.options.remove("default");
                warnings.push(warn(
                    0,
                    format!(
                        "realm `{}`: another realm is already the default; flag cleared",
                        r.realm
                    ),
                ));
            }
            seen = true;
        }
    }
}

/// `^(\S+):\s*(\S+)\s*$`, type lower-cased.
fn section_header(line: &str) -> Option<(String, &str)> {
    if line.starts_with(is_perl_space) {
        return None;
    }
    let t = line.trim_end_matches(is_perl_space);
    let (type_word, id) = match t.find(is_perl_space) {
        Some(i) => {
            let (first, rest) = t.split_at(i);
            let rest = rest.trim_start_matches(is_perl_space);
            if rest.contains(is_perl_space) {
                return None;
            }
            (first.strip_suffix(':')?, rest)
        }
        None => t.rsplit_once(':')?,
    };
    if type_word.is_empty() || id.is_empty() {
        return None;
    }
    Some((type_word.to_lowercase(), id))
}

/// `^\s+(\S+)(\s+(.*\S))?\s*$`: key and optional value.
fn property_line(line: &str) -> Option<(&str, Option<&str>)> {
    if !line.starts_with(is_perl_space) {
        return None;
    }
    let t = line.trim_matches(is_perl_space);
    if t.is_empty() {
        return None;
    }
    Some(match t.find(is_perl_space) {
        Some(i) => (&t[..i], Some(t[i..].trim_start_matches(is_perl_space))),
        None => (t, None),
    })
}

/// Perl truthiness of a line: `""` and `"0"` end a section.
fn is_falsy(line: &str) -> bool {
    line.is_empty() || line == "0"
}

fn warn(line: usize, message: String) -> Warning {
    Warning { line, message }
}

/// Lines with numbers, skipping `#` comment lines (Perl `split /\n/` drops trailing empties).
struct Lines<'a> {
    iter: std::iter::Enumerate<std::str::Split<'a, char>>,
    remaining: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let remaining = text.trim_end_matches('\n').split('\n').count();
        Lines {
            iter: text.split('\n').enumerate(),
            remaining: if text.trim_end_matches('\n').is_empty() {
                0
            } else {
                remaining
            },
        }
    }

    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        while self.remaining > 0 {
            let (i, line) = self.iter.next()?;
            self.remaining -= 1;
            if line.trim_start_matches(is_perl_space).starts_with('#') {
                continue;
            }
            return Some((i + 1, line));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_section_config_regex() {
        let check = |line: &str, want: Option<(&str, &str)>| {
            let got = section_header(line);
            let got = got.as_ref().map(|(t, i)| (t.as_str(), *i));
            assert_eq!(got, want, "section_header({line:?})");
        };
        check("pve: pve", Some(("pve", "pve")));
        check("LDAP:corp ", Some(("ldap", "corp")));
        check("ldap:\tcorp\r", Some(("ldap", "corp")));
        check("ldap: corp extra", None);
        check(" ldap: corp", None);
        check("ldap corp", None);
        check("ldap:", None);
    }

    #[test]
    fn property_lines_split_key_and_value() {
        let check = |line: &str, want: Option<(&str, Option<&str>)>| {
            assert_eq!(property_line(line), want, "property_line({line:?})");
        };
        check("\tcomment Linux PAM", Some(("comment", Some("Linux PAM"))));
        check("  default", Some(("default", None)));
        check(
            "\tbase_dn  dc=x,dc=y  ",
            Some(("base_dn", Some("dc=x,dc=y"))),
        );
        check("default 1", None);
        check("   ", None);
    }
}
