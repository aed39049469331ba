//! `realm add|modify|delete|list|sync` (API `/access/domains`): the realms of `domains.cfg`,
//! and the sync of an ldap/ad realm's users and groups into user.cfg.
//!
//! Options are pveum's (`--base_dn`, `--user_attr`, `--case-sensitive` ...); each is checked
//! against the realm type's option table, so the CLI accepts exactly what the file parser
//! keeps. `--password` (ldap/ad bind password) goes to `priv/realm/<realm>.pw`, never to
//! domains.cfg. The built-in `pam` and `pve` realms can be modified but not created or deleted.

use clap::{Args, Subcommand};

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_bool, parse_id, reject, split_list};
use crate::auth::realm::LoginOptions;
use crate::config::{RealmType, StateError};
use crate::identity::Realm;
use crate::manage::realm::{add_realm, delete_realm, is_builtin, modify_realm, realm_item};
use crate::manage::realm_sync::{SyncError, SyncParams, lock_realm, sync_realm};

/// `aclgate realm ...`.
#[derive(Debug, Subcommand)]
pub enum RealmCommand {
    /// Add an authentication realm (ldap, ad or openid).
    Add(AddArgs),
    /// Update a realm's options.
    Modify(ModifyArgs),
    /// Delete a realm (users of the realm are kept).
    Delete(DeleteArgs),
    /// List realms.
    List,
    /// Sync the users and/or groups of an ldap or ad realm into user.cfg.
    Sync(SyncArgs),
}

/// `realm sync REALM [--scope S] [--remove-vanished L] [--enable-new B] [--dry-run B]`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Realm id.
    pub realm: String,
    /// What to sync: users, groups or both (default: the realm's sync-defaults-options).
    #[arg(long)]
    pub scope: Option<String>,
    /// What to remove when it vanished from the directory: `none` or a `;` list of acl,
    /// entry, properties.
    #[arg(long = "remove-vanished")]
    pub remove_vanished: Option<String>,
    /// Enable newly synced users (default 1).
    #[arg(long = "enable-new", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub enable_new: Option<bool>,
    /// Only report what would change; write nothing.
    #[arg(long = "dry-run", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub dry_run: Option<bool>,
    /// Deprecated: use --remove-vanished entry;properties.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub full: Option<bool>,
    /// Deprecated: use --remove-vanished acl.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub purge: Option<bool>,
    /// Remove vanished users even when the directory returned none (aclgate).
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub force: Option<bool>,
}

/// `realm add REALM --type T [options]`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Realm id.
    pub realm: String,
    /// Realm type: ldap, ad or openid.
    #[arg(long = "type")]
    pub kind: String,
    #[command(flatten)]
    pub options: RealmOptions,
    /// Bind to the server with the new settings before saving them (ldap/ad).
    #[arg(long = "check-connection", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub check_connection: Option<bool>,
}

/// `realm modify REALM [options] [--delete LIST]`.
#[derive(Debug, Clone, Args)]
pub struct ModifyArgs {
    /// Realm id.
    pub realm: String,
    #[command(flatten)]
    pub options: RealmOptions,
    /// Options to remove (list).
    #[arg(long)]
    pub delete: Option<String>,
    /// Bind to the server with the changed settings before saving them (ldap/ad).
    #[arg(long = "check-connection", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub check_connection: Option<bool>,
}

/// `realm delete REALM`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Realm id.
    pub realm: String,
}

macro_rules! realm_options {
    ($( $(#[$doc:meta])* $field:ident => $key:literal, bool: $bool:literal; )*) => {
        /// Every realm option pveum knows; which apply depends on the realm type.
        #[derive(Debug, Clone, Default, Args)]
        pub struct RealmOptions {
            $(
                $(#[$doc])*
                #[arg(
                    long = $key,
                    num_args = if $bool { 0..=1 } else { 1..=1 },
                    default_missing_value = "1",
                )]
                pub $field: Option<String>,
            )*
        }

        impl RealmOptions {
            /// Every option key, in the order pveum lists them.
            #[cfg(test)]
            const KEYS: &'static [&'static str] = &[$($key),*];

            /// The options given, as (key, value).
            fn given(&self) -> Vec<(&'static str, &str)> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$field { out.push(($key, v.as_str())); } )*
                out
            }
        }
    };
}

realm_options! {
    /// Description.
    comment => "comment", bool: false;
    /// Use this realm as the default in the login dialog.
    default => "default", bool: true;
    /// Realm-enforced second factor (type=oath|yubico,...).
    tfa => "tfa", bool: false;
    /// Server address (ldap, ad).
    server1 => "server1", bool: false;
    /// Fallback server address.
    server2 => "server2", bool: false;
    /// Server port (default 389, 636 for ldaps).
    port => "port", bool: false;
    /// Protocol: ldap, ldaps or ldap+starttls.
    mode => "mode", bool: false;
    /// Deprecated: use --mode ldaps.
    secure => "secure", bool: true;
    /// TLS version: tlsv1_2 (default) or tlsv1_3.
    sslversion => "sslversion", bool: false;
    /// Verify the server's TLS certificate.
    verify => "verify", bool: true;
    /// CA certificate file or directory (default /etc/ssl/certs).
    capath => "capath", bool: false;
    /// Client certificate (not used by aclgate).
    cert => "cert", bool: false;
    /// Client certificate key (not used by aclgate).
    certkey => "certkey", bool: false;
    /// LDAP base DN.
    base_dn => "base_dn", bool: false;
    /// LDAP bind DN (search for the user with these credentials).
    bind_dn => "bind_dn", bool: false;
    /// Bind password for bind_dn (stored in priv/realm/<realm>.pw).
    password => "password", bool: false;
    /// LDAP attribute holding the user name (e.g. uid).
    user_attr => "user_attr", bool: false;
    /// AD domain name.
    domain => "domain", bool: false;
    /// Compare user names case-sensitively at login (default 1).
    case_sensitive => "case-sensitive", bool: true;
    /// LDAP filter for user sync.
    filter => "filter", bool: false;
    /// Attribute mapping for sync (email=mail,...).
    sync_attributes => "sync_attributes", bool: false;
    /// Object classes of users.
    user_classes => "user_classes", bool: false;
    /// Base DN for groups.
    group_dn => "group_dn", bool: false;
    /// Attribute holding a group's name.
    group_name_attr => "group_name_attr", bool: false;
    /// LDAP filter for group sync.
    group_filter => "group_filter", bool: false;
    /// Object classes of groups.
    group_classes => "group_classes", bool: false;
    /// Default sync options.
    sync_defaults_options => "sync-defaults-options", bool: false;
    /// OpenID issuer URL.
    issuer_url => "issuer-url", bool: false;
    /// OpenID client id.
    client_id => "client-id", bool: false;
    /// OpenID client key.
    client_key => "client-key", bool: false;
    /// Create users on first login (openid).
    autocreate => "autocreate", bool: true;
    /// OpenID claim for the user name.
    username_claim => "username-claim", bool: false;
    /// OpenID claim for groups.
    groups_claim => "groups-claim", bool: false;
    /// Create groups on login (openid).
    groups_autocreate => "groups-autocreate", bool: true;
    /// Overwrite groups on login (openid).
    groups_overwrite => "groups-overwrite", bool: true;
    /// OpenID prompt.
    prompt => "prompt", bool: false;
    /// OpenID scopes.
    scopes => "scopes", bool: false;
    /// OpenID ACR values.
    acr_values => "acr-values", bool: false;
    /// OpenID audiences.
    audiences => "audiences", bool: false;
    /// Query the userinfo endpoint (openid).
    query_userinfo => "query-userinfo", bool: true;
}

/// Run a `realm` subcommand.
pub fn run(command: RealmCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        RealmCommand::Add(args) => add(args, ctx),
        RealmCommand::Modify(args) => modify(args, ctx),
        RealmCommand::Delete(args) => delete(args, ctx),
        RealmCommand::List => list(ctx),
        RealmCommand::Sync(args) => sync(args, ctx),
    }
}

/// `realm add` (POST /access/domains).
pub fn add(args: AddArgs, ctx: &Ctx) -> Result<(), StateError> {
    let realm: Realm = parse_id(&args.realm)?;
    let kind: RealmType = args.kind.parse().map_err(|e| reject(format!("{e}")))?;
    let options = args.options.given();
    let check = args.check_connection == Some(true);
    ctx.state.modify_realms(|edit| {
        add_realm(edit, &realm, kind, &options)?;
        if check {
            check_connection(ctx, edit, &realm, &options)?;
        }
        Ok(())
    })
}

/// `realm modify` (PUT /access/domains/{realm}).
pub fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let realm: Realm = parse_id(&args.realm)?;
    let deletes: Vec<&str> = args
        .delete
        .as_deref()
        .map(|d| split_list(d).collect())
        .unwrap_or_default();
    let options = args.options.given();
    let check = args.check_connection == Some(true);
    ctx.state.modify_realms(|edit| {
        modify_realm(edit, &realm, &options, &deletes)?;
        if check {
            check_connection(ctx, edit, &realm, &options)?;
        }
        Ok(())
    })
}

/// `--check-connection`: bind with the realm's new settings (the given bind password, else
/// the stored one) before anything is written, as Proxmox's `check_connection` does.
fn check_connection(
    ctx: &Ctx,
    edit: &crate::config::RealmEdit,
    realm: &Realm,
    options: &[(&'static str, &str)],
) -> Result<(), StateError> {
    let config = edit
        .domains
        .realm(realm.as_str())
        .ok_or_else(|| reject(format!("realm '{realm}' does not exist")))?;
    if !config.kind.is_directory() {
        return Err(reject(
            "check-connection: only LDAP/AD realms have a server to check",
        ));
    }
    let stored = crate::auth::realm::RealmSecrets::load(&ctx.state, &edit.domains)?.0;
    let password = options
        .iter()
        .find(|(k, _)| *k == "password")
        .map(|(_, v)| *v)
        .or_else(|| stored.bind_password(realm.as_str()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| reject(format!("cannot start the runtime: {e}")))?;
    let timeout = LoginOptions::default().ldap_timeout;
    runtime
        .block_on(crate::auth::realm::ldap_sync::search(
            config,
            password,
            &[],
            timeout,
        ))
        .map(|_| ())
        .map_err(|e| reject(format!("connection check failed - {e}")))
}

/// `realm delete` (DELETE /access/domains/{realm}).
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let realm: Realm = parse_id(&args.realm)?;
    if is_builtin(&realm) {
        return Err(reject(format!("cannot delete built-in realm '{realm}'")));
    }
    ctx.state.modify_realms(|edit| delete_realm(edit, &realm))
}

/// `realm list` (GET /access/domains).
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let (domains, _) = ctx.state.load_domains()?;
    let items = domains.realms().map(realm_item).collect();
    ctx.out.list(items, REALM_COLUMNS);
    Ok(())
}

/// `realm sync` (POST /access/domains/{realm}/sync): text output is the sync's log, as pveum
/// prints its worker task; warnings go to stderr.
pub fn sync(args: SyncArgs, ctx: &Ctx) -> Result<(), StateError> {
    let realm: Realm = parse_id(&args.realm)?;
    let params = SyncParams {
        scope: args.scope,
        remove_vanished: args.remove_vanished,
        enable_new: args.enable_new,
        full: args.full,
        purge: args.purge,
        dry_run: args.dry_run.unwrap_or(false),
        force: args.force.unwrap_or(false),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| reject(format!("cannot start the runtime: {e}")))?;
    let timeout = LoginOptions::default().ldap_timeout;
    crate::manage::realm_sync::check(&ctx.state, &realm, &params).map_err(|e| match e {
        SyncError::State(e) => e,
        other => reject(other.to_string()),
    })?;
    // A dry run writes nothing: it needs no lock and may run beside a sync.
    let _lock = if params.dry_run {
        None
    } else {
        Some(lock_realm(&ctx.state, &realm).map_err(|e| match e {
            SyncError::State(e) => e,
            other => reject(other.to_string()),
        })?)
    };
    let report = runtime
        .block_on(sync_realm(&ctx.state, &realm, &params, timeout))
        .map_err(|e| match e {
            SyncError::State(e) => e,
            other => reject(other.to_string()),
        })?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    ctx.out.task(report.to_json(), &report.log());
    Ok(())
}

/// `realm list` columns.
const REALM_COLUMNS: &[Column] = &[
    col("realm", false),
    col("type", false),
    col("comment", false),
    col("tfa", false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_accepts_every_cli_option() {
        assert_eq!(RealmOptions::KEYS, crate::manage::realm::REALM_OPTION_KEYS);
    }
}
