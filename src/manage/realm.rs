//! Authentication realms (`/access/domains`, `pveum realm`): create, update, delete, items.
//! `pam` and `pve` always exist and can be neither created nor deleted. Every function edits
//! the [`RealmEdit`] handed in by [`crate::config::StateDir::modify_realms`].

use serde_json::{Value, json};

use super::realm_sync::map_sync_defaults;
use super::value::reject;
use crate::config::state_dir::RealmEdit;
use crate::config::{RealmConfig, RealmType, StateError};
use crate::identity::Realm;

/// Every realm option key pveum and the API accept (which apply depends on the realm type).
pub const REALM_OPTION_KEYS: &[&str] = &[
    "comment",
    "default",
    "tfa",
    "server1",
    "server2",
    "port",
    "mode",
    "secure",
    "sslversion",
    "verify",
    "capath",
    "cert",
    "certkey",
    "base_dn",
    "bind_dn",
    "password",
    "user_attr",
    "domain",
    "case-sensitive",
    "filter",
    "sync_attributes",
    "user_classes",
    "group_dn",
    "group_name_attr",
    "group_filter",
    "group_classes",
    "sync-defaults-options",
    "issuer-url",
    "client-id",
    "client-key",
    "autocreate",
    "username-claim",
    "groups-claim",
    "groups-autocreate",
    "groups-overwrite",
    "prompt",
    "scopes",
    "acr-values",
    "audiences",
    "query-userinfo",
];

/// Add realm `realm` of type `kind` with `options` (key, value) (`password` = bind password).
pub fn add_realm(
    edit: &mut RealmEdit,
    realm: &Realm,
    kind: RealmType,
    options: &[(&str, &str)],
) -> Result<(), StateError> {
    if is_builtin(realm) {
        return Err(reject(format!("unable to use reserved name '{realm}'")));
    }
    if matches!(kind, RealmType::Pve | RealmType::Pam) {
        return Err(reject(format!("unable to create builtin type '{kind}'")));
    }
    let mut config = RealmConfig::new(realm.clone(), kind);
    let password = apply(&mut config, options)?;
    config.check_required().map_err(|e| reject(e.to_string()))?;
    if edit.domains.realm(realm.as_str()).is_some() {
        return Err(reject(format!("domain '{realm}' already exists")));
    }
    if config.is_default() {
        edit.domains.clear_other_defaults(realm.as_str());
    }
    edit.domains.insert(config);
    // Like Proxmox's on_add_hook: no password given removes a stale file.
    edit.set_bind_password(realm, password);
    Ok(())
}

/// Update realm `realm`: set `options`, then remove the `deletes` keys.
pub fn modify_realm(
    edit: &mut RealmEdit,
    realm: &Realm,
    options: &[(&str, &str)],
    deletes: &[&str],
) -> Result<(), StateError> {
    let mut config = edit
        .domains
        .realm(realm.as_str())
        .cloned()
        .ok_or_else(|| no_such_realm(realm))?;
    // Proxmox's SectionConfig `fixed` options (openid `username-claim`).
    if let Some(key) = deletes.iter().find(|k| config.kind.is_fixed_option(k)) {
        return Err(reject(format!("unable to delete fixed option '{key}'")));
    }
    if let Some((key, _)) = options.iter().find(|(k, _)| config.kind.is_fixed_option(k)) {
        return Err(reject(format!(
            "can't change value of fixed parameter '{key}'"
        )));
    }
    let mut password_change = None;
    for key in deletes {
        if options.iter().any(|(k, _)| k == key) {
            return Err(reject(format!(
                "cannot set and delete property '{key}' at the same time"
            )));
        }
        if *key == "password" && config.kind.is_directory() {
            password_change = Some(None);
            continue;
        }
        config.unset(key).map_err(|e| reject(e.to_string()))?;
    }
    if let Some(pw) = apply(&mut config, options)? {
        password_change = Some(Some(pw));
    }
    if config.is_default() {
        edit.domains.clear_other_defaults(realm.as_str());
    }
    edit.domains.insert(config);
    if let Some(change) = password_change {
        edit.set_bind_password(realm, change);
    }
    Ok(())
}

/// Delete realm `realm` (not `pam`/`pve`) and its bind password.
pub fn delete_realm(edit: &mut RealmEdit, realm: &Realm) -> Result<(), StateError> {
    if is_builtin(realm) {
        return Err(reject(format!("cannot delete built-in realm '{realm}'")));
    }
    let kind = edit
        .domains
        .realm(realm.as_str())
        .map(|r| r.kind)
        .ok_or_else(|| no_such_realm(realm))?;
    edit.domains.remove(realm.as_str());
    if kind.is_directory() {
        edit.set_bind_password(realm, None);
    }
    Ok(())
}

/// One item of the realm list: `realm`, `type`, `comment?`, `default?`, `tfa?` (type only).
pub fn realm_item(r: &RealmConfig) -> Value {
    let mut item = json!({ "realm": r.realm.as_str(), "type": r.kind.as_str() });
    if let Some(c) = r.comment() {
        item["comment"] = json!(c);
    }
    if r.is_default() {
        item["default"] = json!(1);
    }
    // Like Proxmox: only the tfa type is listed, never Yubico keys.
    if let Some(tfa) = r.option("tfa")
        && let Some(kind) = tfa.split(',').find_map(|p| p.strip_prefix("type="))
    {
        item["tfa"] = json!(kind);
    }
    item
}

/// Whether `realm` is one of the two built-in realms.
pub fn is_builtin(realm: &Realm) -> bool {
    matches!(realm.as_str(), "pam" | "pve")
}

/// The error for an unknown realm.
pub fn no_such_realm(realm: &Realm) -> StateError {
    reject(format!("domain '{realm}' does not exist"))
}

/// Apply the given options to `config`; the bind password is returned, not stored there.
fn apply(config: &mut RealmConfig, options: &[(&str, &str)]) -> Result<Option<String>, StateError> {
    let mut password = None;
    for (key, value) in options {
        if *key == "password" {
            if !config.kind.is_directory() {
                return Err(reject(format!(
                    "unknown option 'password' for realm type '{}'",
                    config.kind
                )));
            }
            if value.contains(['\n', '\r']) {
                return Err(reject("the bind password may not contain line breaks"));
            }
            password = Some((*value).to_owned());
            continue;
        }
        // Proxmox rewrites the deprecated `full`/`purge` on create and update.
        let mapped;
        let value = if *key == "sync-defaults-options" && config.kind.is_directory() {
            mapped = map_sync_defaults(value, true).map_err(|e| reject(e.to_string()))?;
            mapped.as_str()
        } else {
            value
        };
        config.set(key, value).map_err(|e| reject(e.to_string()))?;
    }
    Ok(password)
}
