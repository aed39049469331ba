//! `import-pve DIR`: take over a copy of a Proxmox `/etc/pve`.
//!
//! `user.cfg` is read with Proxmox's lenient rules and written canonically; the plaintext
//! secrets of `priv/token.cfg` are hashed into `priv/token.shadow` (the plaintext is never
//! written); `domains.cfg` and `priv/shadow.cfg` are copied (the latter 0600). Every skipped
//! line is reported as `file:line`. A non-empty state directory is only overwritten with
//! `--force`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::Ctx;
use super::value::{parse_bool, reject};
use crate::config::state_dir::read_lines;
use crate::config::{StateError, TokenShadow, UserConfig};
use crate::identity::Tokenid;

/// `import-pve DIR [--force 1]`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A copy of Proxmox's `/etc/pve` (user.cfg, domains.cfg, priv/token.cfg, priv/shadow.cfg).
    pub dir: PathBuf,
    /// Overwrite a non-empty state directory.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub force: Option<bool>,
}

/// Run `import-pve`.
pub fn run(args: ImportArgs, ctx: &Ctx) -> Result<(), StateError> {
    let src = &args.dir;
    let user_path = src.join("user.cfg");
    // A torn file (cut short by a partial copy) is refused: its partial last line could be a
    // restricting ACL that a lenient read would drop.
    let user_text = read_lines(&user_path)?
        .ok_or_else(|| reject(format!("`{}` does not exist", user_path.display())))?;
    let domains = read_lines(&src.join("domains.cfg"))?;
    let token_text = read_lines(&src.join("priv/token.cfg"))?.unwrap_or_default();
    let passwords = read_lines(&src.join("priv/shadow.cfg"))?;

    let mut warnings = Vec::new();
    let (cfg, cfg_warnings) = UserConfig::parse(&user_text);
    for w in cfg_warnings {
        warnings.push(format!("{}:{}: {}", user_path.display(), w.line, w.message));
    }
    let token_path = src.join("priv/token.cfg");
    let tokens = hash_token_cfg(&cfg, &token_text, &token_path, &mut warnings);

    let _lock = ctx.state.lock()?;
    if args.force != Some(true) && !is_empty_state(ctx.state.root())? {
        return Err(reject(format!(
            "state directory `{}` is not empty; use `--force 1` to overwrite it",
            ctx.state.root().display()
        )));
    }
    ctx.state
        .write_secret(&ctx.state.token_shadow_path(), tokens.write().as_bytes())?;
    ctx.state
        .write_plain(&ctx.state.user_cfg_path(), cfg.write().as_bytes())?;
    match &domains {
        Some(text) => ctx
            .state
            .write_plain(&ctx.state.domains_cfg_path(), text.as_bytes())?,
        None => ctx.state.remove(&ctx.state.domains_cfg_path())?,
    }
    match &passwords {
        Some(text) => ctx
            .state
            .write_secret(&ctx.state.shadow_cfg_path(), text.as_bytes())?,
        None => ctx.state.remove(&ctx.state.shadow_cfg_path())?,
    }

    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let token_count: usize = cfg.users.values().map(|u| u.tokens.len()).sum();
    let acl_count: usize = cfg.acl.values().map(|n| n.len()).sum();
    let realm_count = domains.as_deref().map_or(0, |t| {
        t.lines()
            .filter(|l| !l.starts_with(char::is_whitespace) && !l.starts_with('#'))
            .filter(|l| l.contains(':'))
            .count()
    });
    let password_count = passwords
        .as_deref()
        .map_or(0, |t| t.lines().filter(|l| !l.trim().is_empty()).count());
    ctx.out.raw(&format!(
        "imported into `{}`: {} users, {} tokens ({} secrets), {} groups, {} pools, {} roles, \
         {} ACL entries, {} realms, {} passwords; {} warnings\n",
        ctx.state.root().display(),
        cfg.users.len(),
        token_count,
        tokens.len(),
        cfg.groups.len(),
        cfg.pools.len(),
        cfg.roles.len(),
        acl_count,
        realm_count,
        password_count,
        warnings.len()
    ));
    Ok(())
}

/// Hash the secrets of `priv/token.cfg` (`<tokenid> <secret>` lines) for the tokens defined
/// in `cfg`. Warnings name the line, never the secret.
fn hash_token_cfg(
    cfg: &UserConfig,
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> TokenShadow {
    let mut shadow = TokenShadow::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), index + 1);
        // Proxmox's own rule: exactly `^(\S+) (\S+)$`.
        let parts = line.split_once(' ').filter(|(id, secret)| {
            !id.is_empty()
                && !secret.is_empty()
                && !id.contains(char::is_whitespace)
                && !secret.contains(char::is_whitespace)
        });
        let Some((id, secret)) = parts else {
            warnings.push(format!("{at}: malformed line skipped"));
            continue;
        };
        let Ok(id) = id.parse::<Tokenid>() else {
            warnings.push(format!("{at}: invalid token id, line skipped"));
            continue;
        };
        if cfg.token(&id).is_none() {
            warnings.push(format!(
                "{at}: token `{id}` is not defined in user.cfg, secret skipped"
            ));
            continue;
        }
        shadow.set_secret(&id, secret);
    }
    for (userid, user) in &cfg.users {
        for name in user.tokens.keys() {
            let id = Tokenid::new(userid, name);
            if !shadow.contains(&id) {
                warnings.push(format!(
                    "{}: token `{id}` has no secret; regenerate it to use it",
                    path.display()
                ));
            }
        }
    }
    shadow
}

/// Whether the state directory is missing or holds nothing but the lock file.
fn is_empty_state(root: &Path) -> Result<bool, StateError> {
    let entries = std::fs::read_dir(root).map_err(|source| StateError::Read {
        path: root.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| StateError::Read {
            path: root.to_owned(),
            source,
        })?;
        if entry.file_name() != ".lock" {
            return Ok(false);
        }
    }
    Ok(true)
}
