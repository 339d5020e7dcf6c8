#!/usr/bin/env bash
# Build the Debian package target/debian/chassisd_<version>-1_<arch>.deb.
#   packaging/build-deb.sh [extra cargo-deb options]
# Installs cargo-deb from crates.io if it is missing. The package metadata is
# [package.metadata.deb] in supervisor/Cargo.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "==> installing cargo-deb (cargo install cargo-deb --locked)"
    cargo install cargo-deb --locked
fi
# cargo-deb would build only the supervisor package; the deb also ships
# flowctl and pinctrl, so build all binaries first.
echo "==> cargo build --release --workspace --bins"
cargo build --release --workspace --bins
echo "==> cargo deb -p supervisor --no-build"
cargo deb -p supervisor --no-build "$@"
ls -l target/debian/*.deb
