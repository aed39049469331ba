//! Authentication settings of `aclgate.toml` (`[tickets]`, `[login_throttle]`, the PAM
//! service): inert data here, below `auth`, which builds its ticket authority and throttle
//! from them (and re-exports them where they are used).

use serde::Deserialize;

/// A ticket is valid while its age (now − time stamp) is below this many seconds (2 h).
pub const TICKET_LIFETIME: i64 = 7200;
/// Allowed clock skew: a ticket may be stamped up to this many seconds in the future.
pub const CLOCK_SKEW: i64 = 300;

/// PAM service Proxmox VE uses (Debian falls back to `/etc/pam.d/other` when it has no file).
pub const DEFAULT_PAM_SERVICE: &str = "proxmox-ve-auth";

/// Ticket settings (`[tickets]` in the gateway configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketConfig {
    /// Algorithm of newly created signing keys: `ed25519` (default) or `hmac-sha256`.
    pub algorithm: Algorithm,
    /// The verified-ticket cache.
    pub cache: CacheConfig,
    /// Least number of seconds between two key file re-reads caused by unknown signatures.
    pub refresh_interval: i64,
}

/// How new signing keys are made. Existing keys keep their algorithm until rotated out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Ed25519 signatures (default): only the current private seed can mint tickets; the
    /// previous key is kept as a public key only.
    #[default]
    Ed25519,
    /// HMAC-SHA256: about 100 times cheaper to verify uncached; the key is a shared secret.
    HmacSha256,
}

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Most tickets held (about 250 bytes each); 0 disables the cache.
    pub max_entries: usize,
}

/// Throttling settings (`[login_throttle]` in the gateway configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Window length in seconds; a counter restarts with the first failure after its window.
    pub window: u64,
    /// Failures from one source (any users) before that source is refused.
    pub per_source: u32,
    /// Failures for one user from one source before that pair is refused.
    pub per_user_source: u32,
    /// Failures for one user from all sources before that user's attempts are slowed.
    pub per_user_slowdown: u32,
    /// Extra wait, in milliseconds, for attempts on a slowed user.
    pub slowdown_ms: u64,
    /// Most keys per table (sources, user+source pairs, users).
    pub max_entries: usize,
}

// === impl TicketConfig ===

impl Default for TicketConfig {
    fn default() -> Self {
        TicketConfig {
            algorithm: Algorithm::Ed25519,
            cache: CacheConfig::default(),
            refresh_interval: 1,
        }
    }
}

// === impl CacheConfig ===

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 65_536,
        }
    }
}

// === impl ThrottleConfig ===

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            window: 600,
            per_source: 30,
            per_user_source: 5,
            per_user_slowdown: 20,
            slowdown_ms: 3000,
            max_entries: 100_000,
        }
    }
}
