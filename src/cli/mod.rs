//! The `aclgate` command line. (Being written.)

pub mod policy;

use std::ffi::OsString;
use std::process::ExitCode;

/// Run the command line given by `args` (including the program name).
pub fn run(_args: Vec<OsString>) -> ExitCode {
    ExitCode::SUCCESS
}
