# Shared helpers for scripts/test.sh and scripts/demo.sh. Source it; do not run it.
# shellcheck shell=bash

# Repository root (this file lives in scripts/).
CHASSISD_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CHASSISD_REPO

step() { printf '\n==== %s\n' "$*"; }
note() { printf '  %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

deb_installed() { # PACKAGE
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

# Install the Debian packages that are not installed yet. While apt-get runs, a
# temporary /usr/sbin/policy-rc.d keeps the packages' init scripts from
# starting system daemons (OVS, OVN) that would share /var/run with tests.
ensure_debs() { # PACKAGE...
    local p missing=()
    command -v dpkg-query >/dev/null || die "dpkg-query not found: this needs Debian 12 (bookworm) or a derivative"
    for p in "$@"; do
        deb_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        note "Debian packages present: $*"
        return 0
    fi
    note "installing Debian packages: ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        as_root sh -c "printf '#!/bin/sh\n# temporary, from chassisd scripts/lib.sh\nexit 101\n' > $policy && chmod 755 $policy"
        made_policy=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
    if ((rc == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" || rc=$?
    fi
    if ((made_policy)); then as_root rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get failed (exit $rc) installing: ${missing[*]}"
}

# OVS 3.1 and OVN 23.03 from Debian: the real peers of tests and the demo.
# shellcheck disable=SC2034 # used by the scripts that source this file
OVS_OVN_DEBS=(openvswitch-switch openvswitch-common ovn-common ovn-central ovn-host)

# pid from a pidfile if that process is alive, else nothing.
pid_from_file() { # PIDFILE
    local pid
    [[ -r $1 ]] || return 1
    pid=$(tr -dc '0-9' < "$1")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The system's own OVS/OVN daemons (started by the packages' init scripts or
# systemd units) share /var/run/openvswitch and /var/run/ovn, and a test that
# forgets to point OVS_RUNDIR/OVN_RUNDIR at its sandbox would talk to them.
# Stop them through their init scripts (never by process name).
# Set CHASSISD_KEEP_SYSTEM_DAEMONS=1 to leave them alone.
stop_system_daemons() {
    local running=() f pid
    for f in /var/run/openvswitch/ovsdb-server.pid /var/run/openvswitch/ovs-vswitchd.pid \
             /var/run/ovn/ovn-controller.pid /var/run/ovn/ovn-northd.pid \
             /var/run/ovn/ovnnb_db.pid /var/run/ovn/ovnsb_db.pid \
             /var/run/openvswitch/ovn-controller.pid; do
        if pid=$(pid_from_file "$f"); then running+=("$(basename "$f" .pid)[$pid]"); fi
    done
    if ((${#running[@]} == 0)); then
        note "no system OVS/OVN daemons running"
        return 0
    fi
    if [[ ${CHASSISD_KEEP_SYSTEM_DAEMONS:-0} == 1 ]]; then
        warn "system daemons running (kept, CHASSISD_KEEP_SYSTEM_DAEMONS=1): ${running[*]}"
        return 0
    fi
    note "system daemons running: ${running[*]}; stopping them with their init scripts"
    local svc
    for svc in ovn-host ovn-central openvswitch-switch; do
        if [[ -e /etc/init.d/$svc || -e /lib/systemd/system/$svc.service ]]; then
            if command -v service >/dev/null; then
                as_root service "$svc" stop || warn "service $svc stop failed"
            else
                as_root "/etc/init.d/$svc" stop || warn "/etc/init.d/$svc stop failed"
            fi
        fi
    done
    running=()
    for f in /var/run/openvswitch/ovsdb-server.pid /var/run/openvswitch/ovs-vswitchd.pid \
             /var/run/ovn/ovn-controller.pid /var/run/ovn/ovn-northd.pid \
             /var/run/ovn/ovnnb_db.pid /var/run/ovn/ovnsb_db.pid; do
        if pid=$(pid_from_file "$f"); then running+=("$(basename "$f" .pid)[$pid]"); fi
    done
    ((${#running[@]} == 0)) || warn "still running after 'service ... stop': ${running[*]}"
}

# cargo must be on PATH (rustup installs it in ~/.cargo/bin).
ensure_cargo() {
    if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
        PATH=$HOME/.cargo/bin:$PATH
        export PATH
    fi
    command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup)"
}
