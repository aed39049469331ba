#!/usr/bin/env bash
# Install what the test suite needs (idempotently), then run it.
#
# Works on a fresh Debian machine with a Rust toolchain; as root it installs Debian packages,
# otherwise it only checks for them. Safe to run again: nothing is installed twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and tests use: a C toolchain for crates with C parts, pkg-config,
# CA certificates for the registries.
apt_packages=(build-essential pkg-config ca-certificates)

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
fi

command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }

cargo test --locked "$@"
