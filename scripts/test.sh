#!/usr/bin/env bash
# The project's test command (README, CI): checks, build, tests.
#
#   scripts/test.sh
#
# On a fresh Debian 12 machine it first installs what is missing: OVS 3.1 and
# OVN 23.03 (the real peers of the tests), systemd and systemd-container (for
# systemd-analyze and the unit test in a container) and the shell linter. It stops system OVS/OVN daemons, if any run, through their init
# scripts (set CHASSISD_KEEP_SYSTEM_DAEMONS=1 to keep them). Then:
# cargo fmt --check, cargo clippy -D warnings, bash -n and shellcheck on the
# scripts, cargo build, packaging checks (systemd-analyze verify, and the unit
# under systemd in a container), the tests (cargo nextest if present, else
# cargo test), and the demo against ovn-controller.
# Exits non-zero if any step fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CHASSISD_REPO"

failed=()
run() { # NAME COMMAND...
    local name=$1; shift
    step "$name: $*"
    local t0=$SECONDS
    if "$@"; then
        note "ok ($((SECONDS - t0)) s)"
    else
        local rc=$?
        note "FAILED (exit $rc, $((SECONDS - t0)) s)"
        failed+=("$name")
        return "$rc"
    fi
}

step "environment"
note "$(uname -srm); $(. /etc/os-release && echo "$PRETTY_NAME")"
ensure_cargo
note "$(cargo --version); $(rustc --version)"

step "Debian packages"
tools=(systemd systemd-container shellcheck)
ensure_debs "${OVS_OVN_DEBS[@]}" "${tools[@]}"
note "$(ovs-vswitchd --version | head -1); $(ovn-controller --version | head -1)"

step "system OVS/OVN daemons"
stop_system_daemons

# Independent checks: run them all, report every failure.
run fmt cargo fmt --all -- --check || true
run clippy cargo clippy --workspace --all-targets -- -D warnings || true

shell_scripts=(scripts/*.sh packaging/*.sh packaging/debian/* .ci/run)
syntax() { local f; for f in "$@"; do bash -n "$f" || return 1; done; }
run bash-n syntax "${shell_scripts[@]}" || true
if command -v shellcheck >/dev/null; then
    run shellcheck shellcheck -x "${shell_scripts[@]}" || true
fi

# The tests start the built binaries (chassisd, flowctl, pinctrl).
if run build cargo build --workspace --all-targets; then
    run packaging packaging/verify.sh target/debug/chassisd || true
    # The unit under a real systemd (container), running the chassisd just built.
    if [[ $(id -u) -eq 0 ]]; then
        run systemd-unit env CHASSISD_BIN_DIR="$CHASSISD_REPO/target/debug" \
            packaging/systemd-test.sh --controller chassisd || true
    else
        step "systemd-unit: skipped (needs root for systemd-nspawn)"
    fi
    if cargo nextest --version >/dev/null 2>&1; then
        run tests cargo nextest run --workspace --no-tests=warn || true
    else
        run tests cargo test --workspace || true
    fi
    # nextest does not run doctests; cargo test does them with the rest.
    if cargo nextest --version >/dev/null 2>&1; then
        run doctests cargo test --workspace --doc || true
    fi
fi

# Keeps the README's first command working: the demo against the real
# ovn-controller (the chassisd run is what the tests are for).
run demo scripts/demo.sh --controller ovn-controller </dev/null || true

step "summary"
if ((${#failed[@]})); then
    note "FAILED: ${failed[*]}"
    exit 1
fi
note "all steps passed"
