//! Directory searches for realm sync (`PVE::LDAP::query_users` / `query_groups`): one
//! connection with the service bind of [`super::ldap::open`], then paged subtree searches.
//!
//! What to search for (filters, attributes) and what the entries mean is decided by the caller
//! (`manage::realm_sync`); this file only talks to the server. Entries come back with
//! lower-cased attribute names (LDAP attribute names are case-insensitive) and only their
//! UTF-8 values. A query without a base searches the realm's `base_dn`, or, when the realm has
//! none (an `ad` realm may omit it), the server's `defaultNamingContext`, as Proxmox does.

use std::collections::BTreeMap;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry};

use super::RealmError;
use super::ldap::open;
use crate::config::RealmConfig;

/// Entries per page of a paged search (Proxmox: 900 for users, 100 for groups).
const PAGE_SIZE: i32 = 500;

/// One subtree search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryQuery {
    /// Search base; `None` = the realm's base DN.
    pub base: Option<String>,
    /// The complete LDAP filter.
    pub filter: String,
    /// Attributes to return.
    pub attrs: Vec<String>,
}

/// One entry found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The entry's DN as the server wrote it.
    pub dn: String,
    /// UTF-8 values by lower-cased attribute name, in the server's order.
    pub attrs: BTreeMap<String, Vec<String>>,
}

/// Connect, bind with the realm's service account, and run `queries` in order on that one
/// connection; the entries of each query, in the server's order. Every network step is
/// bounded by `timeout`.
pub async fn search(
    realm: &RealmConfig,
    bind_pw: Option<&str>,
    queries: &[DirectoryQuery],
    timeout: Duration,
) -> Result<Vec<Vec<DirectoryEntry>>, RealmError> {
    let mut ldap = open(realm, bind_pw, timeout).await?;
    let result = run_queries(&mut ldap, realm, queries, timeout).await;
    // Best effort: the connection is dropped either way.
    let _ = tokio::time::timeout(timeout, ldap.unbind()).await;
    result
}

async fn run_queries(
    ldap: &mut Ldap,
    realm: &RealmConfig,
    queries: &[DirectoryQuery],
    timeout: Duration,
) -> Result<Vec<Vec<DirectoryEntry>>, RealmError> {
    let mut default_base = realm.option("base_dn").map(str::to_owned);
    let mut out = Vec::with_capacity(queries.len());
    for query in queries {
        let base = match (&query.base, &default_base) {
            (Some(base), _) | (None, Some(base)) => base.clone(),
            (None, None) => {
                let base = naming_context(ldap, timeout).await?;
                default_base = Some(base.clone());
                base
            }
        };
        out.push(paged_search(ldap, &base, &query.filter, &query.attrs, timeout).await?);
    }
    Ok(out)
}

/// A subtree search with the Paged Results control; each round trip bounded by `timeout`.
async fn paged_search(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    attrs: &[String],
    timeout: Duration,
) -> Result<Vec<DirectoryEntry>, RealmError> {
    let failed = |e: ldap3::LdapError| RealmError::Ldap(format!("search in `{base}`: {e}"));
    let timed_out = || RealmError::Ldap(format!("search in `{base}` timed out"));
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut stream = tokio::time::timeout(
        timeout,
        ldap.streaming_search_with(adapters, base, Scope::Subtree, filter, attrs.to_vec()),
    )
    .await
    .map_err(|_| timed_out())?
    .map_err(failed)?;
    let mut entries = Vec::new();
    while let Some(raw) = tokio::time::timeout(timeout, stream.next())
        .await
        .map_err(|_| timed_out())?
        .map_err(failed)?
    {
        entries.push(entry(SearchEntry::construct(raw)));
    }
    let done = stream.finish().await;
    done.success().map_err(failed)?;
    Ok(entries)
}

/// The root DSE's `defaultNamingContext` (Active Directory's base DN).
async fn naming_context(ldap: &mut Ldap, timeout: Duration) -> Result<String, RealmError> {
    let failed = |e: ldap3::LdapError| RealmError::Ldap(format!("root DSE: {e}"));
    let (entries, _) = tokio::time::timeout(
        timeout,
        ldap.search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["defaultNamingContext"],
        ),
    )
    .await
    .map_err(|_| RealmError::Ldap("root DSE search timed out".into()))?
    .map_err(failed)?
    .success()
    .map_err(failed)?;
    entries
        .into_iter()
        .map(|raw| entry(SearchEntry::construct(raw)))
        .find_map(|e| e.attrs.get("defaultnamingcontext")?.first().cloned())
        .ok_or_else(|| {
            RealmError::Config(
                "no `base_dn` set and the server names no `defaultNamingContext`".into(),
            )
        })
}

/// Attribute names lower-cased; values of the same name (different spellings) merged.
fn entry(raw: SearchEntry) -> DirectoryEntry {
    let mut attrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, values) in raw.attrs {
        attrs
            .entry(name.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }
    DirectoryEntry { dn: raw.dn, attrs }
}
