#!/usr/bin/env bash
# Static checks of the systemd unit and the environment file.
#
#   packaging/verify.sh [CHASSISD_BINARY]
#
# `systemd-analyze verify` refuses a unit whose ExecStart= binary does not
# exist, so the unit is verified as a copy whose /usr/bin/chassisd is replaced
# by CHASSISD_BINARY (default: target/release/chassisd, then
# target/debug/chassisd, else /bin/true as a stand-in). Any warning fails.
# With systemd >= 254 the restart-backoff drop-in is verified too.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
unit=$here/chassisd.service
envfile=$here/chassisd.default
dropin=$here/restart-backoff.conf
fail=0

bad() { echo "verify: FAIL: $*" >&2; fail=1; }

bin=${1:-}
if [[ -z $bin ]]; then
    for c in "$root/target/release/chassisd" "$root/target/debug/chassisd" /bin/true; do
        if [[ -x $c ]]; then bin=$c; break; fi
    done
fi
[[ -x $bin ]] || { echo "verify: $bin is not executable" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# 1. Settings the contract depends on.
need=(
    'Type=notify' 'NotifyAccess=main' 'EnvironmentFile=-/etc/default/chassisd'
    'WatchdogSec=' 'Restart=on-failure' 'RestartPreventExitStatus=78'
    'KillMode=mixed' 'TimeoutStopSec=' 'Conflicts=ovn-controller.service'
    'Requires=openvswitch-switch.service' 'RuntimeDirectory=ovn'
    'RuntimeDirectoryPreserve=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes'
    'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_NICE'
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK'
)
for k in "${need[@]}"; do
    grep -q "^$k" "$unit" || bad "chassisd.service lacks '$k'"
done
# A network agent needs the host netns and a writable /proc/sys/net.
for k in PrivateNetwork ProtectKernelTunables; do
    if grep -q "^$k=" "$unit"; then bad "chassisd.service must not set $k="; fi
done
grep -q '^ExecStart=/usr/bin/chassisd ' "$unit" || bad "ExecStart must run /usr/bin/chassisd"
# shellcheck disable=SC2016 # literal $ wanted
grep -q '\$CHASSISD_OPTS$' "$unit" || bad 'ExecStart must end with unbraced $CHASSISD_OPTS'

# 2. The environment file: comments, blank lines or KEY=VALUE only, and every
#    supervisor knob documented.
lineno=0
while IFS= read -r line; do
    lineno=$((lineno + 1))
    [[ -z $line || $line =~ ^[[:space:]]*# ]] && continue
    [[ $line =~ ^[A-Z_][A-Z0-9_]*= ]] || bad "chassisd.default:$lineno: not KEY=VALUE: $line"
done < "$envfile"
for k in CHASSISD_OPTS CHASSISD_RESTART_BASE_MS CHASSISD_RESTART_MAX_MS \
         CHASSISD_RESTART_RESET_S CHASSISD_CRASH_LOOP_DEATHS \
         CHASSISD_CRASH_LOOP_WINDOW_S CHASSISD_HEARTBEAT_INTERVAL_MS \
         CHASSISD_HEARTBEAT_TIMEOUT_MS CHASSISD_ABORT_TIMEOUT_MS \
         CHASSISD_STOP_TIMEOUT_MS CHASSISD_PINCTRL_NICE; do
    grep -Eq "^#? ?$k=" "$envfile" || bad "chassisd.default does not mention $k"
done

# 3. systemd-analyze verify, when available.
if ! command -v systemd-analyze >/dev/null; then
    echo "verify: systemd-analyze not found; skipped 'systemd-analyze verify'"
else
    tmp=$(mktemp -d /tmp/chassisd-verify.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    run_verify() { # DIR
        local out
        out=$(systemd-analyze verify "$1/chassisd.service" 2>&1) || { bad "systemd-analyze verify failed:"; echo "$out" >&2; return; }
        # Units this one points to that are not installed are not our problem.
        out=$(grep -v -e 'openvswitch-switch.service' -e 'ovn-controller.service' <<<"$out" || true)
        if [[ -n $out ]]; then bad "systemd-analyze verify warned:"; echo "$out" >&2; fi
    }
    mkdir "$tmp/unit"
    sed "s#/usr/bin/chassisd#$bin#" "$unit" > "$tmp/unit/chassisd.service"
    echo "verify: systemd-analyze verify chassisd.service (ExecStart binary: $bin)"
    run_verify "$tmp/unit"
    version=$(systemd-analyze --version | awk 'NR==1 {print $2}')
    if [[ $version =~ ^[0-9]+$ ]] && (( version >= 254 )); then
        mkdir "$tmp/unit/chassisd.service.d"
        cp "$dropin" "$tmp/unit/chassisd.service.d/"
        echo "verify: systemd-analyze verify chassisd.service + restart-backoff.conf"
        run_verify "$tmp/unit"
    else
        echo "verify: systemd $version < 254: restart-backoff.conf not verified (needs RestartSteps=)"
    fi
fi

if (( fail )); then exit 1; fi
echo "verify: OK"
