//! `user tfa list|delete|unlock` (pveum's local commands and `PUT .../unlock-tfa`). Deleting
//! keeps user.cfg `keys` in step (the marker `x` goes when the last entry goes).

use clap::{Args, Subcommand};

use super::Ctx;
use super::value::{parse_id, reject};
use crate::auth::tfa::{TfaError, TfaStore, TypedTfaInfo, manage};
use crate::auth::ticket::epoch_now;
use crate::config::StateError;
use crate::identity::Userid;

/// `aclgate user tfa ...`.
#[derive(Debug, Subcommand)]
pub enum TfaCommand {
    /// List TFA entries (of one user, or of everyone).
    List(ListArgs),
    /// Delete one TFA entry, or all of a user's entries.
    Delete(DeleteArgs),
    /// Unlock a user's TFA authentication (resets both failure counters).
    Unlock(UnlockArgs),
}

/// `user tfa list [USERID]`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// User ID (name@realm).
    pub userid: Option<String>,
}

/// `user tfa delete USERID [--id ID]`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// User ID (name@realm).
    pub userid: String,
    /// The TFA ID; if none provided, all TFA entries will be deleted.
    #[arg(long)]
    pub id: Option<String>,
}

/// `user tfa unlock USERID`.
#[derive(Debug, Clone, Args)]
pub struct UnlockArgs {
    /// User ID (name@realm).
    pub userid: String,
}

/// Run a `user tfa` subcommand.
pub fn run(command: TfaCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        TfaCommand::List(args) => list(args, ctx),
        TfaCommand::Delete(args) => delete(args, ctx),
        TfaCommand::Unlock(args) => unlock(args, ctx),
    }
}

fn list(args: ListArgs, ctx: &Ctx) -> Result<(), StateError> {
    let store = TfaStore::load(&ctx.state).map_err(state_error)?;
    // pveum's `user tfa list` has no output formats: always this text.
    if let Some(userid) = args.userid {
        let userid: Userid = parse_id(&userid)?;
        ctx.out.raw(&format_entries(&store.list_user(&userid), ""));
        return Ok(());
    }
    let blocks: Vec<String> = store
        .users
        .iter()
        .map(|(id, data)| format!("{id}:\n{}", format_entries(&data.list(), "    ")))
        .collect();
    ctx.out.raw(&blocks.join("\n"));
    Ok(())
}

fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let _lock = ctx.state.lock()?;
    let mut store = TfaStore::load(&ctx.state).map_err(state_error)?;
    match &args.id {
        Some(id) => {
            store.delete_entry(&userid, id).map_err(state_error)?;
            store.tidy(&userid);
        }
        None => {
            store.remove_user(&userid);
        }
    }
    // tfa.cfg first: a `keys` marker without entries is harmless, entries without it are not.
    store.save(&ctx.state).map_err(state_error)?;
    let loaded = ctx.state.load()?;
    let mut users = loaded.user_cfg;
    if let Some(user) = users.users.get_mut(&userid)
        && manage::sync_keys(&store, &userid, user)
    {
        ctx.state
            .write_plain(&ctx.state.user_cfg_path(), users.write().as_bytes())?;
    }
    Ok(())
}

fn unlock(args: UnlockArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    if !ctx.state.load()?.user_cfg.users.contains_key(&userid) {
        return Err(reject(format!("user '{userid}' does not exist")));
    }
    // pveum prints nothing for the API's boolean result.
    TfaStore::modify(&ctx.state, |store| Ok(store.unlock(&userid, epoch_now())))
        .map_err(state_error)?;
    Ok(())
}

/// pveum's layout: `<type>:    <id>` then the description indented, entries separated by an
/// empty line.
fn format_entries(entries: &[TypedTfaInfo], indent: &str) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "{indent}{:<9} {}\n{indent}    {}\n",
                format!("{}:", e.kind),
                e.id,
                e.description
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn state_error(e: TfaError) -> StateError {
    match e {
        TfaError::State(e) => e,
        e => reject(e.to_string()),
    }
}
