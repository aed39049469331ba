//! The integration suite as one test binary: each `tests/NAME.rs` is a module here (run one with
//! `cargo test --test suite NAME::`). One binary instead of ~100 keeps `target/` small (each
//! test binary links all of aclgate and its dependencies: ~85 MB apiece) and the build short.
//!
//! Files that change process-wide state stay binaries of their own (Cargo.toml lists them):
//! a signal sent to the test process itself (gateway_sigterm, state_replace), a global `tracing`
//! subscriber to assert on log lines (listener_proxy_protocol, token_options,
//! upstream_access_log, secrets_scan), an environment variable set at run time
//! (upstream_routing), the process's own memory (etcd_bench), the Debian package installed on
//! the machine (install_deb: no other test may see its `/etc/aclgate/aclgate.toml`), and the
//! scan that reads what the suite recorded (secrets_recorded).
//!
//! A module loaded with `#[path]` resolves its own `mod x;` next to its file, so every file
//! here reads exactly as it would as a binary of its own.

// Each file declares the harnesses it uses (`mod gateway_support;`), so a harness is compiled
// once per file that uses it: the copies share no state, as when every file was its own binary.
#![allow(clippy::duplicate_mod)]

#[path = "../api_admin.rs"]
mod api_admin;
#[path = "../api_matrix.rs"]
mod api_matrix;
#[path = "../api_password.rs"]
mod api_password;
#[path = "../api_pools_shape.rs"]
mod api_pools_shape;
#[path = "../api_tfa.rs"]
mod api_tfa;
#[path = "../api_tfa_login.rs"]
mod api_tfa_login;
#[path = "../api_ticket_verify.rs"]
mod api_ticket_verify;
#[path = "../api_token_options.rs"]
mod api_token_options;
#[path = "../api_tokens.rs"]
mod api_tokens;
#[path = "../api_u2f.rs"]
mod api_u2f;
#[path = "../api_users.rs"]
mod api_users;
#[path = "../api_webauthn.rs"]
mod api_webauthn;
#[path = "../attack_h2.rs"]
mod attack_h2;
#[path = "../attack_headers.rs"]
mod attack_headers;
#[path = "../attack_smuggling.rs"]
mod attack_smuggling;
#[path = "../attack_targets.rs"]
mod attack_targets;
#[path = "../build_wrapper.rs"]
mod build_wrapper;
#[path = "../cli_commands.rs"]
mod cli_commands;
#[path = "../cli_fidelity.rs"]
mod cli_fidelity;
#[path = "../cli_pveum_docs.rs"]
mod cli_pveum_docs;
#[path = "../cli_state.rs"]
mod cli_state;
#[path = "../cli_token_options.rs"]
mod cli_token_options;
#[path = "../clients_ansible.rs"]
mod clients_ansible;
#[path = "../clients_exporter.rs"]
mod clients_exporter;
#[path = "../clients_proxmoxer.rs"]
mod clients_proxmoxer;
#[path = "../clients_schema.rs"]
mod clients_schema;
#[path = "../engine_rules.rs"]
mod engine_rules;
#[path = "../etcd_fleet.rs"]
mod etcd_fleet;
#[path = "../etcd_gateway.rs"]
mod etcd_gateway;
#[path = "../etcd_jobs_leader.rs"]
mod etcd_jobs_leader;
#[path = "../etcd_store.rs"]
mod etcd_store;
#[path = "../fault_connections.rs"]
mod fault_connections;
#[path = "../fault_disk.rs"]
mod fault_disk;
#[path = "../fault_kill.rs"]
mod fault_kill;
#[path = "../fault_maps.rs"]
mod fault_maps;
#[path = "../fault_reload_storm.rs"]
mod fault_reload_storm;
#[path = "../fuzz_regressions.rs"]
mod fuzz_regressions;
#[path = "../gateway_auth.rs"]
mod gateway_auth;
#[path = "../gateway_cli.rs"]
mod gateway_cli;
#[path = "../gateway_connections.rs"]
mod gateway_connections;
#[path = "../gateway_credentials.rs"]
mod gateway_credentials;
#[path = "../gateway_idle.rs"]
mod gateway_idle;
#[path = "../gateway_protocols.rs"]
mod gateway_protocols;
#[path = "../gateway_reload.rs"]
mod gateway_reload;
#[path = "../gateway_reload_settings.rs"]
mod gateway_reload_settings;
#[path = "../gateway_request_hygiene.rs"]
mod gateway_request_hygiene;
#[path = "../gateway_upgrades.rs"]
mod gateway_upgrades;
#[path = "../gateway_upstream.rs"]
mod gateway_upstream;
#[path = "../gateway_upstream_framing.rs"]
mod gateway_upstream_framing;
#[path = "../incremental_changes.rs"]
mod incremental_changes;
#[path = "../incremental_gateway.rs"]
mod incremental_gateway;
#[path = "../install_anywhere.rs"]
mod install_anywhere;
#[path = "../listener_per_core.rs"]
mod listener_per_core;
#[path = "../login_cli.rs"]
mod login_cli;
#[path = "../login_ticket.rs"]
mod login_ticket;
#[path = "../login_tickets_refused.rs"]
mod login_tickets_refused;
#[path = "../oracle.rs"]
mod oracle;
#[path = "../policy_cli.rs"]
mod policy_cli;
#[path = "../policy_eval.rs"]
mod policy_eval;
#[path = "../policy_import.rs"]
mod policy_import;
#[path = "../policy_lint.rs"]
mod policy_lint;
#[path = "../policy_load.rs"]
mod policy_load;
#[path = "../policy_params.rs"]
mod policy_params;
#[path = "../prop_config.rs"]
mod prop_config;
#[path = "../prop_credential.rs"]
mod prop_credential;
#[path = "../prop_forwarded_path.rs"]
mod prop_forwarded_path;
#[path = "../prop_path.rs"]
mod prop_path;
#[path = "../pve_perm_tests.rs"]
mod pve_perm_tests;
#[path = "../realm_cli.rs"]
mod realm_cli;
#[path = "../realm_crypt.rs"]
mod realm_crypt;
#[path = "../realm_domains_cfg.rs"]
mod realm_domains_cfg;
#[path = "../realm_ldap.rs"]
mod realm_ldap;
#[path = "../realm_openid.rs"]
mod realm_openid;
#[path = "../realm_pam.rs"]
mod realm_pam;
#[path = "../realm_sync.rs"]
mod realm_sync;
#[path = "../realm_sync_cli.rs"]
mod realm_sync_cli;
#[path = "../realm_sync_jobs.rs"]
mod realm_sync_jobs;
#[path = "../state_torn.rs"]
mod state_torn;
#[path = "../store_edit.rs"]
mod store_edit;
#[path = "../tfa_cli.rs"]
mod tfa_cli;
#[path = "../tfa_store.rs"]
mod tfa_store;
#[path = "../tfa_totp.rs"]
mod tfa_totp;
#[path = "../tfa_u2f.rs"]
mod tfa_u2f;
#[path = "../tfa_webauthn.rs"]
mod tfa_webauthn;
#[path = "../tfa_yubico.rs"]
mod tfa_yubico;
#[path = "../ticket_cache.rs"]
mod ticket_cache;
#[path = "../ticket_csrf.rs"]
mod ticket_csrf;
#[path = "../ticket_format.rs"]
mod ticket_format;
#[path = "../ticket_keyring.rs"]
mod ticket_keyring;
#[path = "../ticket_logout.rs"]
mod ticket_logout;
#[path = "../ticket_throttle.rs"]
mod ticket_throttle;
#[path = "../ticket_vnc.rs"]
mod ticket_vnc;
#[path = "../ui_browser.rs"]
mod ui_browser;
#[path = "../ui_openid.rs"]
mod ui_openid;
#[path = "../ui_serving.rs"]
mod ui_serving;
#[path = "../ui_tfa.rs"]
mod ui_tfa;
#[path = "../ui_why.rs"]
mod ui_why;
#[path = "../upstream_cluster.rs"]
mod upstream_cluster;
#[path = "../upstream_pools_pinned.rs"]
mod upstream_pools_pinned;
#[path = "../upstream_pve_token.rs"]
mod upstream_pve_token;
#[path = "../upstream_reload.rs"]
mod upstream_reload;
#[path = "../user_cfg_edit.rs"]
mod user_cfg_edit;
#[path = "../user_cfg_parser_writer.rs"]
mod user_cfg_parser_writer;
#[path = "../user_cfg_roundtrip.rs"]
mod user_cfg_roundtrip;
