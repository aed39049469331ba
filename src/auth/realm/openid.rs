//! OpenID Connect realms (Proxmox `PVE::API2::OpenId`, `proxmox-openid`): the relying-party
//! side of the authorization-code flow, with the `openidconnect` crate doing the protocol.
//!
//! - [`OpenIdSettings::of_realm`]: the realm's `domains.cfg` options.
//! - [`Provider::discover`]: fetch the provider's metadata and keys (done for every
//!   `auth-url` and `login`, as Proxmox does: a key rotation at the provider is followed at
//!   the next login, with no cache to go stale).
//! - [`Provider::authorize_url`]: the URL the browser goes to, with `state`, `nonce` and a
//!   PKCE S256 challenge.
//! - [`Provider::verify_code`]: redeem the code (with the PKCE verifier), verify the ID token
//!   (signature against the provider's JWKS, issuer, audience, nonce, expiry with a bounded
//!   clock skew), optionally query the userinfo endpoint, and merge the claims (ID token
//!   claims win) into one JSON object, as Proxmox's `verify_authorization_code_simple`.
//!
//! The HTTP client is reqwest over rustls with redirects off (the crate's advice against
//! SSRF) and a timeout on every request. Errors carry no secret (no code, token or key).

use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationContextClass, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
    UserInfoClaims, reqwest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use super::openid_state::PrivateAuthState;
use crate::config::RealmConfig;
use crate::config::text::split_list;

/// How far the gateway's clock may be behind or ahead of the provider's when checking an ID
/// token's `exp` and `iat`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Bound on each request to the provider (discovery, keys, token, userinfo).
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The options of an `openid` realm that the protocol uses.
#[derive(Clone)]
pub struct OpenIdSettings {
    /// `issuer-url`.
    pub issuer_url: String,
    /// `client-id`.
    pub client_id: String,
    /// `client-key` (the client secret; `None` for a public client).
    pub client_key: Option<String>,
    /// `scopes` (default `email profile`; `openid` is always requested).
    pub scopes: Vec<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `acr-values`.
    pub acr_values: Vec<String>,
    /// `audiences`: accepted in an ID token's `aud` besides the client id.
    pub audiences: Vec<String>,
    /// `query-userinfo` (default 1).
    pub query_userinfo: bool,
}

/// Why the provider's answer was not accepted. For the log only (the client sees 401).
#[derive(Debug, Error)]
pub enum OpenIdError {
    /// The realm's options are unusable.
    #[error("realm configuration: {0}")]
    Config(String),
    /// Discovery (metadata or keys) failed.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The token endpoint refused the code or could not be reached.
    #[error("failed to contact token endpoint: {0}")]
    Token(String),
    /// No ID token in the token response.
    #[error("the provider returned no ID token")]
    NoIdToken,
    /// The ID token did not verify (signature, issuer, audience, nonce, time).
    #[error("failed to verify ID token: {0}")]
    IdToken(String),
    /// The userinfo endpoint failed.
    #[error("failed to contact userinfo endpoint: {0}")]
    UserInfo(String),
}

/// A discovered provider, ready for one request's redirect URL.
pub struct Provider {
    client: OidcClient,
    http: reqwest::Client,
}

/// Claims beyond the standard ones (`groups` and whatever the username claim names).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims(Map<String, Value>);

impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenAnswer = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenAnswer,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

// === impl OpenIdSettings ===

impl OpenIdSettings {
    /// The settings of `realm` (which must be an `openid` realm with its required options).
    pub fn of_realm(realm: &RealmConfig) -> Result<OpenIdSettings, OpenIdError> {
        let required = |key: &str| {
            realm
                .option(key)
                .map(str::to_owned)
                .ok_or_else(|| OpenIdError::Config(format!("missing `{key}`")))
        };
        let list = |key: &str, default: &str| -> Vec<String> {
            split_list(realm.option(key).unwrap_or(default))
                .map(str::to_owned)
                .collect()
        };
        Ok(OpenIdSettings {
            issuer_url: required("issuer-url")?,
            client_id: required("client-id")?,
            client_key: realm.option("client-key").map(str::to_owned),
            scopes: list("scopes", "email profile"),
            prompt: realm.option("prompt").map(str::to_owned),
            acr_values: list("acr-values", ""),
            audiences: list("audiences", ""),
            query_userinfo: realm.flag("query-userinfo") != Some(false),
        })
    }
}

impl std::fmt::Debug for OpenIdSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

// === impl Provider ===

impl Provider {
    /// Fetch the provider's metadata and keys; the client answers to `redirect_url`.
    pub async fn discover(
        settings: &OpenIdSettings,
        redirect_url: &str,
    ) -> Result<Provider, OpenIdError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| OpenIdError::Discovery(e.to_string()))?;
        let issuer = IssuerUrl::new(settings.issuer_url.clone())
            .map_err(|e| OpenIdError::Config(format!("issuer-url: {e}")))?;
        let redirect = RedirectUrl::new(redirect_url.to_owned())
            .map_err(|e| OpenIdError::Config(format!("redirect-url: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| OpenIdError::Discovery(error_chain(&e)))?;
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            settings.client_key.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect);
        Ok(Provider { client, http })
    }

    /// The provider's authorization URL for a login whose private half is `auth` and whose
    /// `state` parameter is `public_state`.
    pub fn authorize_url(
        &self,
        settings: &OpenIdSettings,
        auth: &PrivateAuthState,
        public_state: String,
    ) -> String {
        let nonce = Nonce::new(auth.nonce.clone());
        let verifier = PkceCodeVerifier::new(auth.pkce_verifier.clone());
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(public_state),
                move || nonce,
            )
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .set_display(CoreAuthDisplay::Page);
        if let Some(prompt) = &settings.prompt {
            request = request.add_prompt(prompt_of(prompt));
        }
        for scope in &settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for acr in &settings.acr_values {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        request.url().0.to_string()
    }

    /// Redeem `code` and return the verified claims (ID token, then userinfo for claims the
    /// ID token lacks when `query-userinfo` is on).
    pub async fn verify_code(
        &self,
        settings: &OpenIdSettings,
        code: &str,
        auth: &PrivateAuthState,
    ) -> Result<Map<String, Value>, OpenIdError> {
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OpenIdError::Token(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(auth.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OpenIdError::Token(error_chain(&e)))?;
        let id_token = answer.id_token().ok_or(OpenIdError::NoIdToken)?;
        let audiences = settings.audiences.clone();
        let verifier = self
            .client
            .id_token_verifier()
            .set_other_audience_verifier_fn(move |aud| audiences.iter().any(|a| a == aud.as_str()))
            // `exp` may be up to the skew in the past (checked against now − skew) ...
            .set_time_fn(|| chrono::Utc::now() - skew())
            // ... and `iat` up to the skew in the future.
            .set_issue_time_verifier_fn(|iat| {
                if iat <= chrono::Utc::now() + skew() {
                    Ok(())
                } else {
                    Err("issued in the future".to_owned())
                }
            });
        let nonce = Nonce::new(auth.nonce.clone());
        let claims = id_token
            .claims(&verifier, &nonce)
            .map_err(|e| OpenIdError::IdToken(e.to_string()))?;
        let mut merged = match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => map,
            _ => return Err(OpenIdError::IdToken("claims are not an object".to_owned())),
        };
        if settings.query_userinfo {
            let info = self
                .user_info(answer.access_token().clone(), claims)
                .await?;
            for (key, value) in info {
                merged.entry(key).or_insert(value);
            }
        }
        Ok(merged)
    }

    async fn user_info(
        &self,
        token: openidconnect::AccessToken,
        id_claims: &openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>,
    ) -> Result<Map<String, Value>, OpenIdError> {
        // A provider without a userinfo endpoint: the ID token's claims are all there is.
        let Ok(request) = self
            .client
            .user_info(token, Some(id_claims.subject().clone()))
        else {
            return Ok(Map::new());
        };
        let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
            .request_async(&self.http)
            .await
            .map_err(|e| OpenIdError::UserInfo(error_chain(&e)))?;
        match serde_json::to_value(info) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(OpenIdError::UserInfo("claims are not an object".to_owned())),
        }
    }
}

fn prompt_of(prompt: &str) -> CoreAuthPrompt {
    match prompt {
        "none" => CoreAuthPrompt::None,
        "login" => CoreAuthPrompt::Login,
        "consent" => CoreAuthPrompt::Consent,
        "select_account" => CoreAuthPrompt::SelectAccount,
        other => CoreAuthPrompt::Extension(other.to_owned()),
    }
}

fn skew() -> chrono::Duration {
    chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_else(|_| chrono::Duration::seconds(60))
}

/// An error and its sources on one line (the crates' top-level messages are terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
