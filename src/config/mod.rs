//! State files: `user.cfg` and, later, the secret stores and the gateway config.

pub mod gateway;
pub mod user_cfg;

pub use user_cfg::UserConfig;
