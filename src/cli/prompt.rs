//! Reading a password: from the terminal without echo, or one line from stdin when it is not
//! a terminal (scripts, tests).

use std::io::{self, BufRead, IsTerminal};

use super::value::reject;
use crate::config::StateError;

/// Ask once per prompt on a terminal (all answers must match), or read one stdin line.
pub fn read_password(prompts: &[&str]) -> Result<String, StateError> {
    let unreadable = |e: io::Error| reject(format!("cannot read the password: {e}"));
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map_err(unreadable)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    let mut first: Option<String> = None;
    for prompt in prompts {
        let answer = rpassword::prompt_password(prompt).map_err(unreadable)?;
        match &first {
            None => first = Some(answer),
            Some(f) if *f != answer => return Err(reject("passwords do not match")),
            Some(_) => {}
        }
    }
    Ok(first.unwrap_or_default())
}
