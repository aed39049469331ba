//! `aclgate ticket USERNAME [--realm R] [--otp CODE] [--tfa-challenge T] [--path P --privs L]
//! [--new-format B]` (pveum `ticket`): log in against the state directory exactly as
//! `POST /access/ticket` does, and print only the ticket. The password comes from the
//! terminal, or from the first line of stdin when it is not a TTY. A user with second factors
//! needs `--otp` (`<code>` or `<type>:<value>`), or the second step of a two-step login:
//! `--tfa-challenge` with the challenge ticket and the response (`totp:123456`) as the
//! password. With `--path` and `--privs` the credential (a password, or a ticket of the same
//! user, or a VNC ticket for the path) is only verified and the privileges are checked, as
//! `POST /access/ticket`'s verify mode does (no ticket is printed; exit status only);
//! `--new-format` is accepted and ignored, as in Proxmox.

use clap::Args;

use super::Ctx;
use super::prompt::read_password;
use super::value::reject;
use crate::access::Engine;
use crate::access_api::login::{LoginEnv, LoginRequest, login};
use crate::access_api::ticket_verify::{VerifyRequest, verify_login};
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
    /// The signed TFA challenge of a two-step login (the password is then the response).
    #[arg(long = "tfa-challenge")]
    pub tfa_challenge: Option<String>,
    /// Verify the login and check `--privs` on this path instead of printing a ticket.
    #[arg(long, requires = "privs")]
    pub path: Option<String>,
    /// The privileges `--path` needs (list).
    #[arg(long, requires = "path")]
    pub privs: Option<String>,
    /// Accepted and ignored (Proxmox: always the new format).
    #[arg(long = "new-format", value_parser = super::value::parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub new_format: Option<bool>,
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
        tfa_challenge: args.tfa_challenge.as_deref(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| reject(format!("cannot start the runtime: {e}")))?;
    if let (Some(path), Some(privs_text)) = (&args.path, &args.privs) {
        let names: Vec<&str> = super::value::split_list(privs_text).collect();
        let privs = crate::access::PrivSet::from_names(names.iter().copied())
            .map_err(|e| reject(format!("privs: {e}")))?;
        let verify = VerifyRequest {
            path,
            privs,
            privs_text,
        };
        return match runtime.block_on(verify_login(&env, &req, &verify)) {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::debug!(reason = %e, "verification failed");
                Err(reject("authentication failure"))
            }
        };
    }
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
            ctx.out.raw(&format!("{ticket}\n"));
            Ok(())
        }
        None => Err(reject("authentication failure")),
    }
}
