//! Option-value parsing for the CLI: the shared rules live in [`crate::manage::value`].

pub use crate::manage::value::{parse_bool, parse_id, reject, split_list};
