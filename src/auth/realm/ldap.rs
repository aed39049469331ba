//! The `ldap` and `ad` realms: check a password by binding as the user (`PVE::Auth::LDAP`,
//! `PVE::Auth::AD`, `PVE::LDAP`).
//!
//! Connection: `server1`, then `server2` if the first cannot be reached (TCP, TLS or StartTLS
//! failure); `mode` ldap | ldaps | ldap+starttls (`secure 1` = ldaps when `mode` is unset);
//! port 389, or 636 for ldaps. TLS settings come from [`super::tls`].
//!
//! - `ldap`: bind with `bind_dn` and the stored bind password (anonymously without `bind_dn`),
//!   search `base_dn` (subtree) for `(<user_attr>=<name>)`, then bind as the DN found.
//!   Unlike Proxmox, the name is escaped in the filter (no filter injection), and more than
//!   one matching entry refuses the login instead of taking the first.
//! - `ad`: bind directly as `<name>@<domain>` (a name that contains `@` is used as is).
//!
//! [`open`] (connect + service bind) is shared with the realm sync searches in
//! [`super::ldap_sync`].

use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use super::{RealmError, tls};
use crate::config::{RealmConfig, RealmType};

/// LDAP result code for a wrong password.
const INVALID_CREDENTIALS: u32 = 49;

/// Authenticate `name` (without realm) with `password` against a directory realm.
pub(super) async fn authenticate(
    realm: &RealmConfig,
    bind_pw: Option<&str>,
    name: &str,
    password: &str,
    timeout: Duration,
) -> Result<(), RealmError> {
    let mut ldap = connect(realm, timeout).await?;
    let result = match realm.kind {
        RealmType::Ad => {
            let domain = required(realm, "domain")?;
            let upn = if name.contains('@') {
                name.to_owned()
            } else {
                format!("{name}@{domain}")
            };
            user_bind(&mut ldap, &upn, password, timeout).await
        }
        _ => {
            service_bind(&mut ldap, realm, bind_pw, timeout).await?;
            let dn = find_user_dn(&mut ldap, realm, name, timeout).await?;
            user_bind(&mut ldap, &dn, password, timeout).await
        }
    };
    // Best effort: the connection is dropped either way.
    let _ = tokio::time::timeout(timeout, ldap.unbind()).await;
    result
}

/// Connect to the first reachable server and bind with `bind_dn` and its password (anonymously
/// without `bind_dn`), as Proxmox's `connect_and_bind` does for searches.
pub(super) async fn open(
    realm: &RealmConfig,
    bind_pw: Option<&str>,
    timeout: Duration,
) -> Result<Ldap, RealmError> {
    let mut ldap = connect(realm, timeout).await?;
    if let Err(e) = service_bind(&mut ldap, realm, bind_pw, timeout).await {
        let _ = tokio::time::timeout(timeout, ldap.unbind()).await;
        return Err(e);
    }
    Ok(ldap)
}

/// Connect to the first reachable server.
async fn connect(realm: &RealmConfig, timeout: Duration) -> Result<Ldap, RealmError> {
    let (scheme, port) = scheme_and_port(realm)?;
    let servers = [realm.option("server1"), realm.option("server2")];
    let mut last_error = RealmError::Config("missing value for required option `server1`".into());
    for host in servers.into_iter().flatten() {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let url_scheme = if scheme == "ldaps" { "ldaps" } else { "ldap" };
        let url = format!("{url_scheme}://{host}:{port}");
        let settings = settings(realm, scheme, timeout)?;
        match tokio::time::timeout(timeout, LdapConnAsync::with_settings(settings, &url)).await {
            Ok(Ok((conn, ldap))) => {
                ldap3::drive!(conn);
                return Ok(ldap);
            }
            Ok(Err(e)) => {
                tracing::debug!(%url, error = %e, "ldap realm: server not usable");
                last_error = RealmError::Ldap(format!("cannot connect to `{url}`: {e}"));
            }
            Err(_) => {
                last_error = RealmError::Ldap(format!("connecting to `{url}` timed out"));
            }
        }
    }
    Err(last_error)
}

/// `mode` (or the deprecated `secure`) and the port.
fn scheme_and_port(realm: &RealmConfig) -> Result<(&str, u16), RealmError> {
    let scheme = match realm.option("mode") {
        Some(mode) => mode,
        None if realm.flag("secure") == Some(true) => "ldaps",
        None => "ldap",
    };
    let default_port = if scheme == "ldaps" { 636 } else { 389 };
    let port = match realm.option("port") {
        Some(p) => p
            .parse()
            .map_err(|_| RealmError::Config(format!("invalid port `{p}`")))?,
        None => default_port,
    };
    Ok((scheme, port))
}

fn settings(
    realm: &RealmConfig,
    scheme: &str,
    timeout: Duration,
) -> Result<LdapConnSettings, RealmError> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(timeout)
        .set_starttls(scheme == "ldap+starttls");
    if scheme != "ldap" {
        if realm.flag("verify") == Some(true) {
            let capath = realm.option("capath").unwrap_or(tls::DEFAULT_CAPATH);
            let config = tls::client_config(capath, realm.option("sslversion"))?;
            settings = settings.set_config(config);
        } else {
            settings = settings.set_no_tls_verify(true);
        }
    }
    if realm.option("cert").is_some() || realm.option("certkey").is_some() {
        tracing::warn!(realm = %realm.realm, "ldap realm: client certificates are not supported; ignored");
    }
    Ok(settings)
}

/// Bind with `bind_dn` and the stored password, or anonymously.
async fn service_bind(
    ldap: &mut Ldap,
    realm: &RealmConfig,
    bind_pw: Option<&str>,
    timeout: Duration,
) -> Result<(), RealmError> {
    let (dn, pw) = match realm.option("bind_dn") {
        Some(dn) => {
            let pw = bind_pw.ok_or_else(|| {
                RealmError::Config(format!("missing password for realm `{}`", realm.realm))
            })?;
            (dn, pw)
        }
        None => ("", ""),
    };
    let res = tokio::time::timeout(timeout, ldap.simple_bind(dn, pw))
        .await
        .map_err(|_| RealmError::Ldap("service bind timed out".into()))?
        .map_err(|e| RealmError::Ldap(format!("service bind: {e}")))?;
    if res.rc != 0 {
        return Err(RealmError::Ldap(format!(
            "ldap bind failed: rc={} {}",
            res.rc, res.text
        )));
    }
    Ok(())
}

/// Search `base_dn` for exactly one entry with `<user_attr>=<name>`.
async fn find_user_dn(
    ldap: &mut Ldap,
    realm: &RealmConfig,
    name: &str,
    timeout: Duration,
) -> Result<String, RealmError> {
    let base = required(realm, "base_dn")?;
    let attr = required(realm, "user_attr")?;
    let filter = format!("({attr}={})", ldap_escape(name));
    let (entries, _) = tokio::time::timeout(
        timeout,
        ldap.search(base, Scope::Subtree, &filter, vec!["1.1"]),
    )
    .await
    .map_err(|_| RealmError::Ldap("user search timed out".into()))?
    .map_err(|e| RealmError::Ldap(format!("user search: {e}")))?
    .success()
    .map_err(|e| RealmError::Ldap(format!("user search: {e}")))?;
    let mut entries = entries.into_iter();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(SearchEntry::construct(entry).dn),
        (None, _) => Err(RealmError::UnknownUser(name.to_owned())),
        (Some(_), Some(_)) => Err(RealmError::AmbiguousUser(name.to_owned())),
    }
}

/// Bind as the user: the actual password check.
async fn user_bind(
    ldap: &mut Ldap,
    dn: &str,
    password: &str,
    timeout: Duration,
) -> Result<(), RealmError> {
    let res = tokio::time::timeout(timeout, ldap.simple_bind(dn, password))
        .await
        .map_err(|_| RealmError::Ldap("user bind timed out".into()))?
        .map_err(|e| RealmError::Ldap(format!("user bind: {e}")))?;
    match res.rc {
        0 => Ok(()),
        INVALID_CREDENTIALS => Err(RealmError::InvalidCredentials),
        rc => Err(RealmError::Ldap(format!("user bind: rc={rc} {}", res.text))),
    }
}

/// A realm option that must be set.
pub(super) fn required<'a>(realm: &'a RealmConfig, key: &str) -> Result<&'a str, RealmError> {
    realm
        .option(key)
        .ok_or_else(|| RealmError::Config(format!("missing value for required option `{key}`")))
}
