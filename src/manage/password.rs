//! `pve` realm passwords (`PUT /access/password`, `pveum passwd`): only realms of type `pve`
//! keep their passwords in aclgate (`priv/shadow.cfg`); PAM, LDAP and AD passwords are changed
//! where they live.

use super::user::{UserFields, insert_user};
use super::value::reject;
use crate::auth::realm::crypt;
use crate::config::{DomainsConfig, RealmType, StateDir, StateError};
use crate::identity::Userid;

/// Hash `password` and store it for the `pve`-type realm user `userid` (which must exist),
/// under the state lock.
pub fn set_password(state: &StateDir, userid: &Userid, password: &str) -> Result<(), StateError> {
    crypt::check_new_password(password).map_err(|e| reject(e.to_string()))?;
    let hash = crypt::hash_password(password).map_err(|e| reject(e.to_string()))?;
    state.modify_realms(|edit| {
        check_realm_stores_passwords(&edit.domains, userid)?;
        if !edit.users.users.contains_key(userid) {
            return Err(reject(format!("no such user ('{userid}')")));
        }
        edit.shadow.set(userid.name(), hash);
        Ok(())
    })
}

/// Create `userid` with `fields` and its initial `pve` password (`POST /access/users` with
/// `password`, `user add --password`): checked and hashed first, then user and hash are
/// written under one lock.
pub fn add_user_with_password(
    state: &StateDir,
    userid: &Userid,
    fields: &UserFields,
    password: &str,
) -> Result<(), StateError> {
    crypt::check_new_password(password).map_err(|e| reject(e.to_string()))?;
    let (domains, _) = state.load_domains()?;
    check_realm_stores_passwords(&domains, userid)?;
    let hash = crypt::hash_password(password).map_err(|e| reject(e.to_string()))?;
    state.modify_realms(|edit| {
        check_realm_stores_passwords(&edit.domains, userid)?;
        insert_user(&mut edit.users, userid, fields)?;
        edit.shadow.set(userid.name(), hash);
        Ok(())
    })
}

/// Only realms of type `pve` keep their passwords in aclgate.
pub fn check_realm_stores_passwords(
    domains: &DomainsConfig,
    userid: &Userid,
) -> Result<(), StateError> {
    let realm = domains
        .realm(userid.realm())
        .ok_or_else(|| reject(format!("auth domain '{}' does not exist", userid.realm())))?;
    match realm.kind {
        RealmType::Pve => Ok(()),
        RealmType::Pam => Err(reject(
            "changing PAM passwords is not supported by aclgate: use passwd(1) on the host",
        )),
        kind => Err(reject(format!("can't set password on auth type '{kind}'"))),
    }
}
