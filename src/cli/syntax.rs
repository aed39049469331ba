//! Command-line syntax errors worded as pveum words them (pve-common `CLIHandler` and
//! `JSONSchema::get_options`): `400 Parameter verification failed.` with `NAME: why`,
//! `Unknown option: NAME` + `400 unable to parse option`, `400 not enough arguments`,
//! `400 too many arguments`, then the usage line; `ERROR: no command specified` and the usage
//! when a command is missing; the exit code is Perl's 255.

use std::error::Error as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The text pveum prints for a syntax error, or `None` for help/version output (clap's own).
pub fn pveum_message(e: &clap::Error) -> Option<String> {
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let name = arg.as_deref().map(option_name).unwrap_or_default();
    let positional = arg.as_deref().is_some_and(|a| !a.starts_with('-'));
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let head = match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return None,
        // pveum (CLIHandler::print_usage_short) with no command, or a command group without
        // its subcommand: the error line, then the usage, on stderr.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            return Some(format!("ERROR: no command specified\n{}", e.render()));
        }
        ErrorKind::UnknownArgument if !positional => {
            format!("Unknown option: {name}\n400 unable to parse option")
        }
        ErrorKind::UnknownArgument => "400 too many arguments".to_owned(),
        ErrorKind::MissingRequiredArgument if positional => "400 not enough arguments".to_owned(),
        ErrorKind::MissingRequiredArgument => {
            verification(&name, "property is missing and it is not optional")
        }
        ErrorKind::ValueValidation => {
            let why = e.source().map(|s| s.to_string()).unwrap_or_default();
            verification(&name, &why)
        }
        ErrorKind::InvalidValue => {
            let why = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => format!(
                    "value '{value}' does not have a value in the enumeration '{}'",
                    valid.join(", ")
                ),
                _ => format!("value '{value}' is not valid"),
            };
            verification(&name, &why)
        }
        ErrorKind::InvalidSubcommand => {
            let sub = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            format!("400 unknown command '{sub}'")
        }
        _ => {
            let text = e.kind().to_string();
            verification(if name.is_empty() { "parameter" } else { &name }, &text)
        }
    };
    let rendered = e.render().to_string();
    let usage = rendered
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .map(|u| format!("{u}\n"))
        .unwrap_or_default();
    Some(format!("{head}\n{usage}"))
}

/// `400 Parameter verification failed.` with one parameter's error.
fn verification(name: &str, why: &str) -> String {
    format!("400 Parameter verification failed.\n{name}: {why}")
}

/// `--enable [<ENABLE>]` → `enable`; `<USERID>` → `userid`.
fn option_name(arg: &str) -> String {
    let first = arg.split([' ', '=']).next().unwrap_or(arg);
    first
        .trim_start_matches('-')
        .trim_matches(['<', '>'])
        .to_ascii_lowercase()
        .replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names() {
        for (arg, want) in [
            ("--enable [<ENABLE>]", "enable"),
            ("<USERID>", "userid"),
            ("--output-format <OUTPUT_FORMAT>", "output-format"),
            ("--foo", "foo"),
        ] {
            assert_eq!(option_name(arg), want, "{arg}");
        }
    }
}
