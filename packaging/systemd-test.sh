#!/usr/bin/env bash
# Runs chassisd.service under a real systemd: boots this machine's own root
# file system in a throw-away container (systemd-nspawn on an overlayfs whose
# upper layer is a temp dir, so nothing is written to the host), with
# Debian's OVS and OVN units, and checks the unit: it starts with its
# sandboxing (checked on the running process), reaches db.sock and
# br-int.mgmt, writes /run/ovn and /var/log/ovn, `ovn-appctl -t
# ovn-controller` answers, it is restarted after a SIGKILL, a stop leaves
# /run/ovn (shared with ovn-central) in place, and Conflicts= with
# ovn-controller.service works both ways.
#
#   packaging/systemd-test.sh [--controller chassisd|ovn-controller]
#
# --controller ovn-controller runs the real ovn-controller 23.03 under the
# same unit and sandboxing, through a drop-in (Type=simple, no watchdog: it
# does not speak sd_notify); it checks the unit before chassisd works.
# Default: chassisd, from target/release (built by `cargo build --release`), or
# from $CHASSISD_BIN_DIR when set (e.g. target/debug).
# ovs-vswitchd runs with the dummy datapath (a drop-in): no kernel module.
# The container has its own network namespace (--private-network), which is
# also what gives it CAP_NET_ADMIN; nothing touches the host's network.
# Needs root and the Debian packages systemd-container, openvswitch-switch,
# ovn-central, ovn-host (installed when missing).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

controller=chassisd
while (($#)); do
    case $1 in
        --controller) controller=${2:-}; shift 2 ;;
        --controller=*) controller=${1#*=}; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
[[ $controller == chassisd || $controller == ovn-controller ]] || die "--controller chassisd|ovn-controller"
[[ $(id -u) -eq 0 ]] || die "needs root (systemd-nspawn)"

step "Debian packages"
ensure_debs systemd systemd-container "${OVS_OVN_DEBS[@]}"
[[ -x /lib/systemd/systemd ]] || die "/lib/systemd/systemd not found"

T=$(mktemp -d /tmp/cdsysd.XXXX)
nspawn_pid=
mounted=0
cleanup() {
    if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        sleep 2
        kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    if ((mounted)); then umount "$T/root" || umount -l "$T/root" || true; fi
    # Never recurse into a still-mounted overlay of /.
    if mountpoint -q "$T/root"; then
        warn "$T/root still mounted; $T left in place"
    else
        rm -rf -- "$T"
    fi
}
trap cleanup EXIT
mkdir -p "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
mounted=1
R=$T/root
U=$R/etc/systemd/system
mkdir -p "$U/chassisd.service.d" "$U/ovs-vswitchd.service.d" "$U/cdtest.target.wants" \
    "$R/out" "$R/opt/chassisd"
rm -f "$R/out/"*
# The shipped environment file, as the package installs it.
install -m 644 "$CHASSISD_REPO/packaging/chassisd.default" "$R/etc/default/chassisd"
echo "$controller" > "$R/out/controller"

# The unit under test, with ExecStart pointing into the container's /opt.
if [[ $controller == chassisd ]]; then
    for b in chassisd flowctl pinctrl; do
        bindir=${CHASSISD_BIN_DIR:-$CHASSISD_REPO/target/release}
        [[ -x $bindir/$b ]] || die "$bindir/$b missing: cargo build --release"
        cp "$bindir/$b" "$R/opt/chassisd/"
    done
fi
sed 's#/usr/bin/chassisd#/opt/chassisd/chassisd#' "$CHASSISD_REPO/packaging/chassisd.service" \
    > "$U/chassisd.service"
if [[ $controller == ovn-controller ]]; then
    cat > "$U/chassisd.service.d/standin.conf" <<'EOF'
# ovn-controller stands in for chassisd: same arguments, no sd_notify.
[Service]
Type=simple
WatchdogSec=0
ExecStart=
ExecStart=/usr/bin/ovn-controller unix:/var/run/openvswitch/db.sock \
          --pidfile=/var/run/ovn/ovn-controller.pid \
          --log-file=/var/log/ovn/ovn-controller.log $CHASSISD_OPTS
EOF
fi
cat > "$U/ovs-vswitchd.service.d/dummy.conf" <<'EOF'
# No openvswitch kernel module in a container: userspace dummy datapath.
[Unit]
AssertPathIsReadWrite=
[Service]
ExecStart=
ExecStart=/usr/sbin/ovs-vswitchd --enable-dummy=override --disable-system \
          --disable-system-route --detach --no-chdir --pidfile \
          --log-file unix:/var/run/openvswitch/db.sock
ExecStop=
ExecStop=/usr/bin/ovs-appctl -t ovs-vswitchd exit
ExecReload=
EOF
cat > "$U/cdtest.target" <<'EOF'
[Unit]
Description=chassisd unit test
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
cat > "$U/cdtest.service" <<'EOF'
[Unit]
Description=chassisd unit test runner
After=basic.target
[Service]
Type=oneshot
StandardOutput=append:/out/log
StandardError=append:/out/log
ExecStart=/bin/bash /out/inner.sh
ExecStopPost=/bin/systemctl --no-block poweroff
EOF
ln -s ../cdtest.service "$U/cdtest.target.wants/cdtest.service"

cat > "$R/out/inner.sh" <<'EOF'
# Runs inside the container as cdtest.service; results go to /out/result.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
SB=unix:/var/run/ovn/ovnsb_db.sock
pass=0 fail=0
ok() { echo "PASS $*" >> /out/result; pass=$((pass + 1)); }
ko() { echo "FAIL $*" >> /out/result; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@" >> /out/log 2>&1; then ok "$what"; else ko "$what"; fi; }
wait_for() { # SECONDS COMMAND...: poll until the command succeeds
    local t=$(( $1 * 10 )); shift
    while ((t-- > 0)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
show() { systemctl show chassisd -p "$1" --value; }
trap 'echo "DONE pass=$pass fail=$fail" >> /out/result' EXIT

echo "== environment" >> /out/log
systemctl --version | head -1 >> /out/log
check "ovn-central starts (NB, SB, northd)" systemctl start ovn-central.service
check "SB socket up" wait_for 20 test -S /var/run/ovn/ovnsb_db.sock
check "openvswitch-switch starts (dummy datapath)" systemctl start openvswitch-switch.service
check "Open_vSwitch external_ids set" ovs-vsctl --timeout=10 set Open_vSwitch . \
    external_ids:system-id=hv1 external_ids:hostname=hv1 external_ids:ovn-remote=$SB \
    external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip=127.0.0.1

echo "== chassisd.service" >> /out/log
check "chassisd.service starts" systemctl start chassisd.service
check "chassisd.service active after 3 s" bash -c 'sleep 3; systemctl is-active chassisd.service'
check "pidfile /run/ovn/ovn-controller.pid names MainPID" \
    bash -c 'test "$(cat /run/ovn/ovn-controller.pid)" = "$(systemctl show chassisd -p MainPID --value)"'
check "ovn-appctl -t ovn-controller version" ovn-appctl -t ovn-controller version
check "log file in /var/log/ovn" wait_for 10 test -s /var/log/ovn/ovn-controller.log
check "chassis hv1 registered in SB (db.sock + SB reachable)" \
    wait_for 20 bash -c "ovn-sbctl --db=$SB --bare --columns=name list Chassis | grep -qx hv1"
check "flows on br-int (br-int.mgmt reachable)" \
    wait_for 20 bash -c 'ovs-ofctl dump-aggregate br-int | grep -q "flow_count=[1-9]"'
check "sandbox: CapBnd of MainPID is CAP_NET_ADMIN+CAP_NET_RAW+CAP_SYS_NICE" \
    bash -c 's=/proc/$(systemctl show chassisd -p MainPID --value)/status; grep ^Cap $s; grep -q "^CapBnd:[[:space:]]*0000000000803000$" $s'
check "pinctrl runs at nice -5 (CHASSISD_PINCTRL_NICE's default, CAP_SYS_NICE)" \
    bash -c 'for s in /proc/[0-9]*/stat; do read -r l < $s || continue; case "$l" in *"(pinctrl)"*) set -- ${l##*) }; [ "${17}" = -5 ] && exit 0;; esac; done; exit 1'
check "sandbox: MainPID sees / read-only (ProtectSystem=strict)" \
    bash -c 'awk "\$5 == \"/\" {print \$6}" /proc/$(systemctl show chassisd -p MainPID --value)/mountinfo | grep -q "^ro"'
check "sandbox: MainPID has NoNewPrivs and a seccomp filter" \
    bash -c 's=/proc/$(systemctl show chassisd -p MainPID --value)/status; grep -qx "NoNewPrivs:[[:space:]]*1" $s && grep -qx "Seccomp:[[:space:]]*2" $s'
echo "-- systemctl status" >> /out/log
systemctl status --no-pager chassisd.service >> /out/log 2>&1
echo "-- sandbox: $(systemctl show chassisd -p ProtectSystem -p CapabilityBoundingSet -p RestrictAddressFamilies | tr '\n' ' ')" >> /out/log

echo "== restart on failure" >> /out/log
pid=$(show MainPID)
if [[ $pid =~ ^[0-9]+$ ]] && ((pid > 1)); then kill -KILL "$pid"; fi
check "restarted after SIGKILL (Restart=on-failure)" \
    wait_for 15 bash -c "test \"\$(systemctl show chassisd -p NRestarts --value)\" -ge 1 && systemctl is-active chassisd.service"

echo "== CHASSISD_OPTS from /etc/default/chassisd" >> /out/log
cp /etc/default/chassisd /etc/default/chassisd.orig
sed -i 's/^CHASSISD_OPTS=.*/CHASSISD_OPTS=-vconsole:off -vfile:info/' /etc/default/chassisd
systemctl restart chassisd.service >> /out/log 2>&1
check "CHASSISD_OPTS reach the command line as separate words" \
    wait_for 5 bash -c 'tr "\0" "\n" < /proc/$(systemctl show chassisd -p MainPID --value)/cmdline | tail -n 2 | paste -sd" " | grep -qx -- "-vconsole:off -vfile:info"'
mv /etc/default/chassisd.orig /etc/default/chassisd
systemctl restart chassisd.service >> /out/log 2>&1

if [[ $(cat /out/controller) == chassisd ]]; then
    echo "== chassisd only: notify protocol, exit codes" >> /out/log
    check "STATUS= text reported" bash -c 'test -n "$(systemctl show chassisd -p StatusText --value)"'
    check "ovn-appctl -t ovn-controller supervisor/status" ovn-appctl -t ovn-controller supervisor/status
    check "watchdog armed (WatchdogSec=60s)" bash -c 'test "$(systemctl show chassisd -p WatchdogUSec --value)" = 1min'
    # A command-line error is a configuration error: exit 78, no restart.
    mkdir -p /run/systemd/system/chassisd.service.d
    printf '[Service]\nEnvironment=CHASSISD_OPTS=--no-such-option\n' \
        > /run/systemd/system/chassisd.service.d/bad.conf
    # EnvironmentFile= wins over Environment=; empty the file's value meanwhile.
    cp /etc/default/chassisd /etc/default/chassisd.orig
    sed -i '/^CHASSISD_OPTS=/d' /etc/default/chassisd
    systemctl daemon-reload
    systemctl stop chassisd.service; systemctl reset-failed chassisd.service 2>/dev/null
    systemctl start chassisd.service >> /out/log 2>&1
    sleep 3
    check "bad option: exit status 78" bash -c 'test "$(systemctl show chassisd -p ExecMainStatus --value)" = 78'
    check "bad option: not restarted (RestartPreventExitStatus=78)" \
        bash -c 'test "$(systemctl show chassisd -p NRestarts --value)" = 0 && ! systemctl is-active chassisd.service'
    rm -f /run/systemd/system/chassisd.service.d/bad.conf
    mv /etc/default/chassisd.orig /etc/default/chassisd
    systemctl daemon-reload; systemctl reset-failed chassisd.service 2>/dev/null
    systemctl start chassisd.service >> /out/log 2>&1
fi

echo "== stop" >> /out/log
check "chassisd.service stops" systemctl stop chassisd.service
check "/run/ovn kept after stop (RuntimeDirectoryPreserve=yes)" test -d /run/ovn
check "SB socket still there after stop" test -S /var/run/ovn/ovnsb_db.sock
check "no controller process left after stop" \
    bash -c 'p=$(cat /run/ovn/ovn-controller.pid 2>/dev/null); echo "pidfile: ${p:-none}"; ps -eo pid,args | grep "[o]vn-controller\|[c]hassisd" || true; ! { [[ -n $p ]] && kill -0 "$p"; } 2>/dev/null'

echo "== Conflicts=ovn-controller.service" >> /out/log
systemctl start chassisd.service >> /out/log 2>&1
check "starting ovn-controller.service works" systemctl start ovn-controller.service
check "... and stopped chassisd.service" bash -c '! systemctl is-active chassisd.service'
check "starting chassisd.service again works" systemctl start chassisd.service
check "... and stopped ovn-controller.service" bash -c '! systemctl is-active ovn-controller.service'
systemctl stop chassisd.service >> /out/log 2>&1

echo "== journal" >> /out/log
journalctl --no-pager -u chassisd.service >> /out/log 2>&1
if ((fail)); then
    journalctl --no-pager -u ovsdb-server.service -u ovs-vswitchd.service \
        -u ovn-controller.service >> /out/log 2>&1
fi
EOF

step "booting a container (systemd-nspawn on an overlay of /) with the $controller controller"
systemd-nspawn -q -D "$R" -M "cdtest$$" --register=no --keep-unit --private-network \
    -b -- systemd.firstboot=off systemd.unit=cdtest.target \
    > "$T/console.log" 2>&1 < /dev/null &
nspawn_pid=$!
for ((n = 0; n < 1800; n++)); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    grep -q '^DONE' "$R/out/result" 2>/dev/null && break
    sleep 0.1
done
# Give the container a moment to power off by itself.
for ((n = 0; n < 200; n++)); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done

if [[ ${VERBOSE:-0} == 1 || ! -s $R/out/result ]] || grep -q '^FAIL' "$R/out/result"; then
    step "log from inside the container"
    cat "$R/out/log" 2>/dev/null || tail -n 40 "$T/console.log"
fi
step "results"
if [[ ! -s $R/out/result ]]; then
    tail -n 40 "$T/console.log"
    die "no results: the container did not run the test (console above)"
fi
sed 's/^/  /' "$R/out/result"
grep -q '^DONE' "$R/out/result" || die "the test did not finish"
! grep -q '^FAIL' "$R/out/result"
