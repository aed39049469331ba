#!/usr/bin/env bash
# Install what the test suite needs (idempotently), then run it.
#
# Works on a fresh Debian machine with a Rust toolchain; as root it installs Debian packages,
# otherwise it only checks for them. Safe to run again: nothing is installed twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and tests use: a C toolchain for crates with C parts, pkg-config,
# CA certificates for the registries; for the realm tests: slapd + ldap-utils (a throwaway
# OpenLDAP server per test), openssl (test CAs, hash cross-checks), whois (mkpasswd, to
# regenerate crypt fixtures). The PAM realm opens libpam.so.0 at run time: no -dev package.
# There is no systemd, so slapd's postinst starts no daemon; the tests start their own on
# free ports.
apt_packages=(build-essential pkg-config ca-certificates slapd ldap-utils openssl whois)

# Install the Debian packages named that are missing (as root), or fail naming them (otherwise).
# Installs from the current package lists first and updates them only if that fails, so a run
# with everything present touches nothing and a fresh machine without lists still works.
ensure_debs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" 2>/dev/null \
        || { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
}
ensure_debs "${apt_packages[@]}"

# --- web interface (tests/ui_*.rs) ---------------------------------------------------------
# The browser tests drive Debian's Chromium over WebDriver (chromedriver from chromium-driver),
# headless, as root with --no-sandbox and a fresh profile per session.
ensure_debs chromium chromium-driver
# --- end web interface -----------------------------------------------------------------------

# The PAM realm test logs in as a local user through its own PAM service (pam_unix, no delay).
pam_user=aclgate-pamtest
pam_password='Pam-test-pw-7'
pam_service_file=/etc/pam.d/aclgate-test
if [ "$(id -u)" -eq 0 ]; then
    id "$pam_user" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$pam_user"
    echo "$pam_user:$pam_password" | chpasswd
    printf 'auth    required pam_unix.so nodelay\naccount required pam_unix.so\n' > "$pam_service_file"
elif ! id "$pam_user" >/dev/null 2>&1 || [ ! -f "$pam_service_file" ]; then
    echo "PAM test user or $pam_service_file missing (run as root to create them)" >&2
    exit 1
fi

# The TFA tests compute TOTP codes with an independent implementation: Python's pyotp, in a
# venv at .venv (created once; python3-venv is needed for `python3 -m venv`). The client tests
# run unmodified Proxmox clients against the gateway: proxmoxer (+ requests) and
# prometheus-pve-exporter (its `pve_exporter` module), Ansible's community.proxmox modules
# (bundled in PyPI's `ansible` package; Ansible Galaxy is not needed), and jsonschema for the
# client generated from Proxmox's API schema (tests/clients_schema.rs).
venv_packages=(pyotp proxmoxer requests prometheus-pve-exporter jsonschema "ansible==12.3.0")
venv_imports='import pyotp, proxmoxer, requests, pve_exporter, jsonschema, ansible_collections.community.proxmox'
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "$venv_imports" 2>/dev/null; then
    .venv/bin/pip install -q "${venv_packages[@]}"
fi

# --- openid realm tests (tests/realm_openid.rs) ---------------------------------------------
# A real OpenID provider: npm's oidc-provider under Node (the machine image ships Node 20 with
# npm; Debian's nodejs + npm otherwise), installed once from tests/support_oidc/package-lock.json
# into tests/support_oidc/node_modules.
command -v node >/dev/null && command -v npm >/dev/null || ensure_debs nodejs npm
if [ ! -f tests/support_oidc/node_modules/oidc-provider/package.json ]; then
    (cd tests/support_oidc && npm ci --no-audit --no-fund --loglevel=error)
fi
# --- end openid ------------------------------------------------------------------------------

# --- listener (PROXY protocol tests, tests/listener_proxy_protocol.rs) -----------------------
# Debian's haproxy is the real PROXY protocol sender (send-proxy / send-proxy-v2 in TCP mode);
# the tests start their own instance on free ports (no service is started here).
command -v haproxy >/dev/null || ensure_debs haproxy
# --- end listener ----------------------------------------------------------------------------

# --- etcd state store (issue 17; tests/etcd_*.rs, docs/etcd.md) ------------------------------
# The etcd tests start real etcd members (Debian's etcd-server, 3.4) on free ports with temporary
# data directories; no daemon is started by the package (no systemd). The client side needs no
# package: aclgate talks to etcd's JSON gateway, so nothing here needs protoc.
ensure_debs etcd-server
# --- end etcd --------------------------------------------------------------------------------

command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }

# --- packaging (issue 10) ---
# The Debian package test (tests/install_deb.rs) builds the .deb with cargo-deb from the binary
# the test build made, installs it with dpkg, runs it as the `aclgate` user, then purges it.
# cargo-deb is built once (~2 min of CPU) into ~/.cargo/bin; systemd-analyze (package systemd)
# checks the unit file, setpriv (util-linux) drops to the service user.
if [ "$(id -u)" -eq 0 ]; then
    if ! cargo deb --version >/dev/null 2>&1; then
        cargo install --locked cargo-deb
    fi
    ensure_debs systemd dpkg-dev util-linux
fi
# --- end packaging ---

# --- secrets scan (issue 11, item 1; docs/faults.md, "Secrets stay secret") ---
# The shared harnesses (tests/*_support/) record every secret they create and every log line,
# metrics page, explain output, CLI error output and error body they see into this run's
# directory (one set of files per test process); tests/secrets_recorded.rs scans it after the
# suite and fails naming the file, the section and the secret.
export ACLGATE_SECRETS_DIR="$PWD/target/secrets-scan"
rm -rf "$ACLGATE_SECRETS_DIR"
mkdir -p "$ACLGATE_SECRETS_DIR"
# --- end secrets scan (setup) ---

# A full run builds from scratch once: incremental build data (~2 GB for this crate) would only
# fill the disk. Set CARGO_INCREMENTAL=1 for quick edit-and-rerun loops.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo test --locked "$@"

# --- secrets scan (the scan) ---
# Always after a full run; after a filtered one (arguments) only if it recorded something.
if [ $# -eq 0 ] || compgen -G "$ACLGATE_SECRETS_DIR/*.secrets" >/dev/null; then
    cargo test --locked --test secrets_recorded -- --ignored --exact recorded_run_holds_no_secret
fi
# --- end secrets scan ---

# --- fuzzing (issue 11, item 2; docs/fuzzing.md) ---
# After the tests, every fuzz target in fuzz/ runs for a short bounded time (ACLGATE_FUZZ_SECONDS
# per target, default 3; the build of the targets dominates, see docs/fuzzing.md). Only on a
# full run (no arguments, as .ci/run calls it); ACLGATE_SKIP_FUZZ=1 skips it for local runs.
if [ $# -eq 0 ] && [ "${ACLGATE_SKIP_FUZZ:-0}" != 1 ]; then
    bash scripts/fuzz.sh
fi
