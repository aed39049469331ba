//! State files: `user.cfg`, the token secret store, the token options, the state directory that
//! holds them, the atomic-write helpers every writer uses, and the gateway's own settings
//! (`aclgate.toml`).

pub mod atomic;
pub mod auth_settings;
pub mod cidr;
pub mod datacenter_cfg;
pub mod domains_cfg;
pub mod gateway;
pub mod listeners;
pub mod logout_cfg;
pub mod reloadable;
pub mod request;
pub mod shadow_cfg;
pub mod state_dir;
pub mod store;
pub mod text;
pub mod tls_files;
pub mod token_options;
pub mod token_shadow;
pub mod upstreams;
pub mod user_cfg;

pub use domains_cfg::{DomainsConfig, RealmConfig, RealmType};
pub use shadow_cfg::ShadowConfig;
pub use state_dir::{LoadedState, RealmEdit, StateDir, StateError};
pub use token_options::TokenOptions;
pub use token_shadow::TokenShadow;
pub use user_cfg::UserConfig;
