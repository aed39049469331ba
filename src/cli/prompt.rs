//! Reading a password: from the terminal without echo, or one line per prompt from stdin when
//! it is not a terminal (scripts, tests).

use std::io::{self, BufRead, IsTerminal};

use super::value::reject;
use crate::config::StateError;

/// Ask once per prompt (all answers must match): on a terminal without echo, else one stdin
/// line per prompt, as pve-common's `PVE::PTY` reads a confirmed password.
pub fn read_password(prompts: &[&str]) -> Result<String, StateError> {
    let unreadable = |e: io::Error| reject(format!("cannot read the password: {e}"));
    let stdin = io::stdin();
    let terminal = stdin.is_terminal();
    let mut lines = stdin.lock();
    let mut first: Option<String> = None;
    for prompt in prompts {
        let answer = if terminal {
            rpassword::prompt_password(prompt).map_err(unreadable)?
        } else {
            let mut line = String::new();
            lines.read_line(&mut line).map_err(unreadable)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        };
        match &first {
            None => first = Some(answer),
            Some(f) if *f != answer => return Err(reject("Passwords do not match.")),
            Some(_) => {}
        }
    }
    Ok(first.unwrap_or_default())
}
