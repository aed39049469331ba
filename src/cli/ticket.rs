//! `aclgate ticket USERNAME [--realm R] [--otp CODE]` (pveum `ticket`): log in against the
//! state directory exactly as `POST /access/ticket` does, and print only the ticket. The
//! password comes from the terminal, or from the first line of stdin when it is not a TTY.
//! A user with second factors needs `--otp` (`<code>` or `<type>:<value>`).

use clap::Args;

use super::Ctx;
use super::prompt::read_password;
use super::value::reject;
use crate::access::Engine;
use crate::access_api::login::{LoginEnv, LoginRequest, login};
use crate::auth::logout::LogoutList;
use crate::auth::realm::{DEFAULT_PAM_SERVICE, LoginOptions};
use crate::auth::ticket::{TicketAuthority, TicketConfig, epoch_now};
use crate::config::StateError;

/// `ticket` options.
#[derive(Debug, Clone, Args)]
pub struct TicketArgs {
    /// User name, with `@realm` unless `--realm` is given.
    pub username: String,
    /// Realm, appended as `@REALM`.
    #[arg(long)]
    pub realm: Option<String>,
    /// Second factor: a TOTP code, or `<type>:<value>` (`recovery:KEY`, `yubico:OTP`).
    #[arg(long)]
    pub otp: Option<String>,
    /// PAM service for `pam` realm users (the gateway's `auth.pam_service`).
    #[arg(long, default_value = DEFAULT_PAM_SERVICE)]
    pub pam_service: String,
}

/// Log in and print the ticket.
pub fn run(args: TicketArgs, ctx: &Ctx) -> Result<(), StateError> {
    let submitted = match &args.realm {
        Some(r) => format!("{}@{r}", args.username),
        None => args.username.clone(),
    };
    let password = read_password(&["Enter password: "])?;
    let loaded = ctx.state.load()?;
    let (domains, _) = ctx.state.load_domains()?;
    let logout = LogoutList::read(&ctx.state).map_err(|e| reject(e.to_string()))?;
    let engine = Engine::build(&loaded.user_cfg);
    let tickets = TicketAuthority::open(&ctx.state, epoch_now(), TicketConfig::default())
        .map_err(|e| reject(format!("cannot open the ticket keys: {e}")))?;
    let env = LoginEnv {
        users: &loaded.user_cfg,
        domains: &domains,
        logout: &logout,
        engine: &engine,
        state: &ctx.state,
        tickets: &tickets,
        options: LoginOptions {
            pam_service: args.pam_service.clone(),
            ..LoginOptions::default()
        },
        host: None,
        reload: None,
    };
    let req = LoginRequest {
        submitted: &submitted,
        password: &password,
        otp: args.otp.as_deref(),
        tfa_challenge: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| reject(format!("cannot start the runtime: {e}")))?;
    let answer = runtime.block_on(login(&env, &req)).map_err(|e| {
        tracing::debug!(reason = %e, "login failed");
        reject("authentication failure")
    })?;
    if answer.get("NeedTFA").is_some() {
        return Err(reject(
            "authentication failure: second factor required (--otp)",
        ));
    }
    match answer["ticket"].as_str() {
        Some(ticket) => {
            println!("{ticket}");
            Ok(())
        }
        None => Err(reject("authentication failure")),
    }
}
