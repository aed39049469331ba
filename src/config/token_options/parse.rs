//! The strict reader of `token-options.cfg` (format in [`super`]): every error refuses the
//! whole text with its line number.

use std::collections::BTreeSet;

use super::{
    AllowedIps, OptionError, ParseError, RateLimit, TokenOption, TokenOptions, parse_rate,
};
use crate::config::user_cfg::Warning;
use crate::identity::Tokenid;

/// [`TokenOptions::parse`].
pub(super) fn parse(
    text: &str,
    exists: impl Fn(&Tokenid) -> bool,
) -> Result<(TokenOptions, Vec<Warning>), ParseError> {
    let mut out = TokenOptions::default();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    // The open section: its id (None when it is skipped) and what it has set so far.
    let mut open: Option<(Option<Tokenid>, Section)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let fail = |message: String| ParseError { line, message };
        if raw.trim().is_empty() {
            if let Some((id, section)) = open.take() {
                close(&mut out, id, section).map_err(fail)?;
            }
            continue;
        }
        if raw.starts_with('#') {
            continue;
        }
        if raw.starts_with(char::is_whitespace) {
            let Some((_, section)) = open.as_mut() else {
                return Err(fail("property outside a `token:` section".to_owned()));
            };
            let (key, value) = raw
                .trim()
                .split_once(char::is_whitespace)
                .map_or((raw.trim(), ""), |(k, v)| (k, v.trim()));
            section.set(key, value).map_err(fail)?;
            continue;
        }
        if let Some((id, section)) = open.take() {
            close(&mut out, id, section).map_err(|m| ParseError {
                line: line - 1,
                message: m,
            })?;
        }
        let Some(id) = raw.strip_prefix("token:") else {
            return Err(fail("expected `token: <tokenid>`".to_owned()));
        };
        let id: Tokenid = id
            .trim()
            .parse()
            .map_err(|_| fail(format!("invalid token id `{}`", id.trim())))?;
        if !seen.insert(id.as_str().to_owned()) {
            return Err(fail(format!("duplicate section for token `{id}`")));
        }
        let id = if exists(&id) {
            Some(id)
        } else {
            warnings.push(Warning {
                line,
                message: format!("options of unknown token `{id}` ignored"),
            });
            None
        };
        open = Some((id, Section::default()));
    }
    if let Some((id, section)) = open.take() {
        let last = text.lines().count();
        close(&mut out, id, section).map_err(|message| ParseError {
            line: last,
            message,
        })?;
    }
    Ok((out, warnings))
}

/// What one section has set so far (duplicates are errors).
#[derive(Default)]
struct Section {
    allowed_ips: Option<AllowedIps>,
    rate: Option<u32>,
    burst: Option<u32>,
}

impl Section {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let duplicate = || format!("duplicate property `{key}`");
        match key {
            "allowed-ips" if self.allowed_ips.is_some() => return Err(duplicate()),
            "allowed-ips" => {
                self.allowed_ips = Some(value.parse().map_err(|e: OptionError| e.to_string())?);
            }
            "rate-limit" | "rate-burst" => {
                let (key, slot) = if key == "rate-limit" {
                    ("rate-limit", &mut self.rate)
                } else {
                    ("rate-burst", &mut self.burst)
                };
                if slot.is_some() {
                    return Err(duplicate());
                }
                *slot = Some(parse_rate(key, value).map_err(|e| e.to_string())?);
            }
            other => return Err(format!("unknown property `{other}`")),
        }
        Ok(())
    }
}

/// Store a finished section (`None` id: a skipped section, checked but not kept).
fn close(out: &mut TokenOptions, id: Option<Tokenid>, section: Section) -> Result<(), String> {
    let rate_limit = match (section.rate, section.burst) {
        (Some(rate), burst) => Some(RateLimit { rate, burst }),
        (None, Some(_)) => return Err(OptionError::BurstWithoutRate.to_string()),
        (None, None) => None,
    };
    if let Some(id) = id {
        let option = TokenOption {
            allowed_ips: section.allowed_ips,
            rate_limit,
        };
        out.set(&id, option);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::token_options::tests::CANONICAL;

    fn all(_: &Tokenid) -> bool {
        true
    }

    #[test]
    fn loose_text_is_read_and_written_canonically() {
        let text = "# written by hand\n\
                    token:   b@pve!tk\n  rate-burst 3\n    rate-limit   2\n\
                    token: a@pve!tk\n\tallowed-ips 127.0.0.1; ::1 ,127.0.0.1\n\n\n\
                    token: c@pve!tk\n";
        let (options, warnings) = TokenOptions::parse(text, all).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            options.write(),
            "token: a@pve!tk\n\tallowed-ips 127.0.0.1/32,::1/128\n\n\
             token: b@pve!tk\n\trate-limit 2\n\trate-burst 3\n\n",
            "sorted, duplicates and empty sections dropped"
        );
    }

    #[test]
    fn errors_name_the_line() {
        fn check(text: &str, line: usize, want: &str) {
            match TokenOptions::parse(text, all) {
                Ok(_) => panic!("parse({text:?}) should fail"),
                Err(e) => {
                    assert_eq!(e.line, line, "parse({text:?}): {e}");
                    assert!(e.message.contains(want), "parse({text:?}): {e}");
                }
            }
        }
        check("\trate-limit 1\n", 1, "outside a `token:` section");
        check("user: a@pve\n", 1, "expected `token: <tokenid>`");
        check("token: a@pve\n", 1, "invalid token id `a@pve`");
        check(
            "token: a@pve!tk\n\tcolour red\n",
            2,
            "unknown property `colour`",
        );
        check(
            "token: a@pve!tk\n\tallowed-ips 10.0.0.1/8\n",
            2,
            "host bits",
        );
        check("token: a@pve!tk\n\tallowed-ips\n", 2, "empty list");
        check(
            "token: a@pve!tk\n\tallowed-ips 1.2.3.4\n\tallowed-ips ::1\n",
            3,
            "duplicate",
        );
        check("token: a@pve!tk\n\trate-limit 0\n", 2, "from 1 to 1000000");
        check("token: a@pve!tk\n\trate-limit 1000001\n", 2, "from 1 to");
        check("token: a@pve!tk\n\trate-limit +5\n", 2, "from 1 to");
        check("token: a@pve!tk\n\trate-limit 1.5\n", 2, "from 1 to");
        check(
            "token: a@pve!tk\n\trate-burst 5\n\nx",
            3,
            "needs `rate-limit`",
        );
        check(
            "token: a@pve!tk\n\trate-burst 5\ntoken: b@pve!tk\n",
            2,
            "needs",
        );
        check("token: a@pve!tk\n\trate-burst 5", 2, "needs `rate-limit`");
        check(
            "token: a@pve!tk\n\ntoken: a@pve!tk\n",
            3,
            "duplicate section",
        );
    }

    #[test]
    fn sections_of_unknown_tokens_are_left_out_with_a_warning() {
        let known = |id: &Tokenid| id.as_str() != "b@pve!tk";
        let (options, warnings) = TokenOptions::parse(CANONICAL, known).unwrap();
        assert_eq!(options.len(), 2);
        assert!(options.find("b@pve!tk").is_none());
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 6, "{warnings:?}");
        assert!(warnings[0].message.contains("`b@pve!tk`"), "{warnings:?}");
        // A skipped section is still checked: the file stays valid for the next reader.
        let bad = "token: b@pve!tk\n\trate-limit x\n";
        assert!(TokenOptions::parse(bad, known).is_err());
    }
}
