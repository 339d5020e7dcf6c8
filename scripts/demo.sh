#!/usr/bin/env bash
# chassisd demo: a whole OVN deployment in a temporary directory, with
# chassisd as the chassis controller.
#
#   scripts/demo.sh [--controller chassisd|ovn-controller] [--keep] [--no-build]
#   scripts/demo.sh --stop DIR
#
# Starts, all inside DIR=/tmp/cdemo.XXXX (never /var/run): ovsdb-server with
# the Open_vSwitch database, ovs-vswitchd with the userspace dummy datapath
# (--enable-dummy=override: no kernel module, nothing reaches a real network),
# the OVN Northbound and Southbound ovsdb-servers, ovn-northd, and the chassis
# controller: target/release/chassisd, or the real ovn-controller 23.03 with
# --controller ovn-controller for comparison. It builds a small topology (two
# logical switches with two ports each behind a logical router, DHCP on one
# switch), binds the four ports to dummy interfaces on br-int, and shows what
# to look at. Then it waits for Enter or Ctrl-C and stops exactly the
# processes it started (from their pidfiles) and removes DIR. With --keep it
# leaves everything running and prints how to stop it later.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit "${1:-0}"; }

controller=chassisd
keep=0
build=1
stop_dir=
while (($#)); do
    case $1 in
        --controller) controller=${2:-}; shift 2 ;;
        --controller=*) controller=${1#*=}; shift ;;
        --keep) keep=1; shift ;;
        --no-build) build=0; shift ;;
        --stop) stop_dir=${2:-}; [[ -n $stop_dir ]] || usage 2; shift 2 ;;
        --stop=*) stop_dir=${1#*=}; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done
case $controller in
    chassisd|ovn-controller) ;;
    *) die "--controller must be chassisd or ovn-controller, not '$controller'" ;;
esac

# Daemons in start order; stopped in reverse. Each has DIR/<name>.pid.
DAEMONS=(ovsdb-server ovs-vswitchd ovnnb_db ovnsb_db ovn-northd ovn-controller controller-launcher)
MARKER=.chassisd-demo

# Stop the daemons of a demo directory: SIGTERM to the pid in each pidfile,
# SIGKILL after 5 s. A pid is signalled only if its command line names DIR
# (every daemon here gets DIR in its arguments), so a stale pidfile whose pid
# was reused never makes us signal a stranger.
stop_demo() { # DIR
    local dir=$1 i name pid cmd n
    [[ -e $dir/$MARKER ]] || die "$dir is not a demo directory (no $MARKER)"
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        name=${DAEMONS[i]}
        pid=$(pid_from_file "$dir/$name.pid") || continue
        cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
        if [[ $cmd != *"$dir"* ]]; then
            warn "$name: pid $pid does not belong to $dir ($cmd); not signalled"
            continue
        fi
        note "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((n = 0; n < 50; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name (pid $pid) still running after 5 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    # Anything still running from this directory (e.g. a child of the
    # controller that outlived it) is reported and stopped: its command line
    # names our private directory, so it is ours.
    local left=()
    local d
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        cmd=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null) || continue
        [[ $cmd == *"$dir/"* && $pid != "$$" ]] && left+=("$pid")
    done
    if ((${#left[@]})); then
        warn "processes still running from $dir: ${left[*]}; SIGKILL"
        kill -KILL "${left[@]}" 2>/dev/null || true
    fi
    rm -rf -- "$dir"
    note "removed $dir"
}

if [[ -n $stop_dir ]]; then
    step "stopping the demo in $stop_dir"
    stop_demo "$(cd "$stop_dir" && pwd)"
    exit 0
fi

# ---------------------------------------------------------------------------
step "Debian packages (OVS 3.1, OVN 23.03)"
ensure_debs "${OVS_OVN_DEBS[@]}"

if [[ $controller == chassisd ]]; then
    controller_bin=$CHASSISD_REPO/target/release/chassisd
    if ((build)); then
        step "cargo build --release (chassisd, flowctl, pinctrl)"
        ensure_cargo
        (cd "$CHASSISD_REPO" && cargo build --release --workspace --bins)
    fi
    [[ -x $controller_bin ]] || die "$controller_bin not found (build it, or drop --no-build)"
else
    controller_bin=$(command -v ovn-controller) || die "ovn-controller not found (Debian package ovn-host)"
fi

DIR=$(mktemp -d /tmp/cdemo.XXXX)
touch "$DIR/$MARKER"
started=1 # from here on, cleanup stops what exists and removes DIR
cleanup() {
    local rc=$?
    trap '' INT TERM # a second Ctrl-C must not cut the cleanup short
    if ((started)) && [[ -e $DIR/$MARKER ]]; then
        step "stopping the demo"
        stop_demo "$DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything (OVS and OVN run, log, db and config dirs) points into DIR, as in
# ovs-sandbox, so default pidfile, socket and log paths all land there.
for v in OVS_RUNDIR OVS_LOGDIR OVS_DBDIR OVS_SYSCONFDIR OVN_RUNDIR OVN_LOGDIR OVN_DBDIR OVN_SYSCONFDIR; do
    export "$v=$DIR"
done
export OVN_NB_DB=unix:$DIR/ovnnb_db.sock OVN_SB_DB=unix:$DIR/ovnsb_db.sock

step "sandbox in $DIR"

ovsdb-tool create "$DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server --detach --no-chdir -vconsole:err --pidfile="$DIR/ovsdb-server.pid" \
    --log-file="$DIR/ovsdb-server.log" \
    --remote=punix:"$DIR/db.sock" "$DIR/conf.db"
ovs-vsctl --no-wait -- init
note "ovsdb-server (Open_vSwitch): unix:$DIR/db.sock"

ovs-vswitchd -vconsole:err --enable-dummy=override --disable-system --disable-system-route \
    --detach --no-chdir --pidfile="$DIR/ovs-vswitchd.pid" \
    --log-file="$DIR/ovs-vswitchd.log" \
    unix:"$DIR/db.sock"
note "ovs-vswitchd (dummy datapath)"

for db in nb sb; do
    ovsdb-tool create "$DIR/ovn${db}_db.db" "/usr/share/ovn/ovn-$db.ovsschema"
    ovsdb-server --detach --no-chdir -vconsole:err --pidfile="$DIR/ovn${db}_db.pid" \
        --log-file="$DIR/ovn${db}_db.log" --unixctl="$DIR/ovn${db}_db.ctl" \
        --remote=punix:"$DIR/ovn${db}_db.sock" "$DIR/ovn${db}_db.db"
done
note "OVN Northbound: $OVN_NB_DB"
note "OVN Southbound: $OVN_SB_DB"

ovn-northd --detach --no-chdir -vconsole:err --pidfile="$DIR/ovn-northd.pid" \
    --log-file="$DIR/ovn-northd.log" \
    --ovnnb-db="$OVN_NB_DB" --ovnsb-db="$OVN_SB_DB"
note "ovn-northd"

# Chassis configuration, read by the controller from the Open_vSwitch table.
ovs-vsctl set Open_vSwitch . \
    external_ids:system-id=hv1 \
    external_ids:hostname=hv1 \
    external_ids:ovn-remote="$OVN_SB_DB" \
    external_ids:ovn-encap-type=geneve \
    external_ids:ovn-encap-ip=127.0.0.1
ovs-vsctl --may-exist add-br br-int -- set Bridge br-int fail-mode=secure \
    other-config:disable-in-band=true
note "Open_vSwitch external_ids: $(ovs-vsctl get Open_vSwitch . external_ids)"

step "logical topology (ovn-nbctl)"
# sw0 (10.0.0.0/24, DHCP) --- lr0 --- sw1 (10.0.1.0/24)
ovn-nbctl lr-add lr0
for i in 0 1; do
    ovn-nbctl ls-add "sw$i" \
        -- lrp-add lr0 "lr0-sw$i" "00:00:00:00:ff:0$((i + 1))" "10.0.$i.1/24" \
        -- lsp-add "sw$i" "sw$i-lr0" \
        -- lsp-set-type "sw$i-lr0" router \
        -- lsp-set-addresses "sw$i-lr0" router \
        -- lsp-set-options "sw$i-lr0" "router-port=lr0-sw$i"
    for j in 1 2; do
        ovn-nbctl lsp-add "sw$i" "sw$i-p$j" \
            -- lsp-set-addresses "sw$i-p$j" "50:54:00:00:0$i:0$j 10.0.$i.1$j"
    done
done
ovn-nbctl dhcp-options-create 10.0.0.0/24
dhcp=$(ovn-nbctl --bare --columns=_uuid find DHCP_Options cidr=10.0.0.0/24)
ovn-nbctl dhcp-options-set-options "$dhcp" lease_time=3600 router=10.0.0.1 \
    server_id=10.0.0.1 server_mac=00:00:00:00:ff:01 dns_server=10.0.0.1
for j in 1 2; do ovn-nbctl lsp-set-dhcpv4-options "sw0-p$j" "$dhcp"; done
ovn-nbctl show | sed 's/^/  /'

step "VIFs on br-int (dummy interfaces, packets recorded in pcap files)"
for p in sw0-p1 sw0-p2 sw1-p1 sw1-p2; do
    ovs-vsctl add-port br-int "$p" -- set Interface "$p" type=dummy \
        external_ids:iface-id="$p" \
        options:tx_pcap="$DIR/$p-tx.pcap" options:rxq_pcap="$DIR/$p-rx.pcap"
    note "$p: iface-id=$p, sent by the switch -> $DIR/$p-tx.pcap"
done

step "starting $controller ($controller_bin)"
# The pidfile and control socket are those of ovn-controller, so
# `ovn-appctl -t ovn-controller` reaches either controller.
ctl_cmd=("$controller_bin" "unix:$DIR/db.sock" --pidfile="$DIR/ovn-controller.pid"
         --log-file="$DIR/ovn-controller.log" --detach --no-chdir)
note "${ctl_cmd[*]}"
controller_ok=1
# Started in the background so that a controller that stays in the foreground
# (no --detach support yet) cannot hang the demo; its pid is recorded so that
# the cleanup stops it either way.
"${ctl_cmd[@]}" </dev/null &
launcher=$!
echo "$launcher" > "$DIR/controller-launcher.pid"
for ((n = 0; n < 100; n++)); do
    kill -0 "$launcher" 2>/dev/null || break
    pid_from_file "$DIR/ovn-controller.pid" >/dev/null && break
    sleep 0.1
done
if ! kill -0 "$launcher" 2>/dev/null; then
    rc=0
    wait "$launcher" || rc=$?
    if ((rc)); then
        controller_ok=0
        warn "$controller exited with status $rc; the demo goes on without it"
    fi
fi
if pid=$(pid_from_file "$DIR/ovn-controller.pid"); then
    note "$controller running, pid $pid"
else
    controller_ok=0
    warn "no live pid in $DIR/ovn-controller.pid"
    if [[ -s $DIR/ovn-controller.log ]]; then
        tail -n 20 "$DIR/ovn-controller.log" | sed 's/^/  log: /'
    fi
fi

if ((controller_ok)); then
    note "waiting up to 10 s for the chassis to catch up (ovn-nbctl --wait=hv sync)"
    if ovn-nbctl --timeout=10 --wait=hv sync 2>/dev/null; then
        note "chassis hv1 has applied the current Northbound configuration"
    else
        note "not caught up within 10 s (normal for a controller that does not write Chassis_Private.nb_cfg yet)"
    fi
fi

# ---------------------------------------------------------------------------
show() { # COMMAND... : print a command and the first lines of its output; never fails
    printf '\n$ %s\n' "$*"
    local out rc=0 lines=${SHOW_LINES:-25} total
    out=$("$@" 2>&1) || rc=$?
    total=$(printf '%s\n' "$out" | wc -l)
    printf '%s\n' "$out" | sed -n "1,${lines}p"
    if ((total > lines)); then printf '... (%d lines in all)\n' "$total"; fi
    if ((rc)); then printf '(exit status %d)\n' "$rc"; fi
    return 0
}

# Packets for the dataplane check, as hex for `ovs-appctl netdev-dummy/receive`.
# pkt arp|dhcp MAC IP
pkt() {
    python3 - "$@" <<'PY'
import struct, sys
kind, mac, ip = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3]
ip4 = lambda a: bytes(int(x) for x in a.split("."))
bcast = b"\xff" * 6
if kind == "arp":  # who-has 10.0.X.1 (the router port), tell IP
    router = ip.rsplit(".", 1)[0] + ".1"
    frame = bcast + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) \
        + mac + ip4(ip) + b"\x00" * 6 + ip4(router)
else:  # DHCPDISCOVER from MAC
    bootp = struct.pack("!BBBBIHH", 1, 1, 6, 0, 0x2a2a2a2a, 0, 0) + b"\x00" * 16 \
        + mac + b"\x00" * 10 + b"\x00" * 192 + bytes.fromhex("63825363") \
        + bytes([53, 1, 1, 55, 3, 1, 3, 6, 255])
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      ip4("0.0.0.0"), ip4("255.255.255.255"))
    csum = sum(struct.unpack("!10H", hdr))
    csum = (csum & 0xffff) + (csum >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~csum & 0xffff) + hdr[12:]
    frame = bcast + mac + b"\x08\x00" + hdr + udp
print(frame.hex())
PY
}

# One line per packet in a pcap file (what the switch sent to a VIF).
pcap_summary() { # FILE
    python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
off, n = 24, 0
while off + 16 <= len(data):
    caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
    f = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    n += 1
    mac = lambda b: ":".join("%02x" % x for x in b)
    ip = lambda b: ".".join(str(x) for x in b)
    etype = struct.unpack("!H", f[12:14])[0]
    what = "ethertype 0x%04x" % etype
    if etype == 0x0806:
        op = struct.unpack("!H", f[20:22])[0]
        if op == 2:
            what = "ARP reply %s is-at %s" % (ip(f[28:32]), mac(f[22:28]))
        else:
            what = "ARP request who-has %s" % ip(f[38:42])
    elif etype == 0x0800 and f[23] == 17:
        l4 = 14 + (f[14] & 15) * 4
        sport, dport = struct.unpack("!HH", f[l4:l4 + 4])
        what = "IPv4 %s -> %s UDP %d -> %d" % (ip(f[26:30]), ip(f[30:34]), sport, dport)
        if sport == 67 and dport == 68:
            b = f[l4 + 8:]
            opts, i, mtype = b[240:], 0, None
            while i < len(opts) and opts[i] != 255:
                if opts[i] == 0:
                    i += 1
                    continue
                if opts[i] == 53:
                    mtype = opts[i + 2]
                i += 2 + opts[i + 1]
            names = {2: "OFFER", 5: "ACK", 6: "NAK"}
            what += ": DHCP %s yiaddr %s" % (names.get(mtype, mtype), ip(b[16:20]))
    print("    %d. %s -> %s  %s" % (n, mac(f[6:12]), mac(f[0:6]), what))
if n == 0:
    print("    (no packets)")
PY
}

pcap_count() { # FILE
    [[ -s $1 ]] || { echo 0; return; }
    pcap_summary "$1" | grep -c '^    [0-9]' || true
}

# Inject a packet on a VIF and wait up to 3 s for the switch to send something back.
probe() { # PORT KIND MAC IP
    local port=$1 before n
    before=$(pcap_count "$DIR/$port-tx.pcap")
    printf '\n$ ovs-appctl netdev-dummy/receive %s <%s from %s %s>\n' "$port" "$2" "$3" "$4"
    if ! ovs-appctl netdev-dummy/receive "$port" "$(pkt "$2" "$3" "$4")"; then
        return 0
    fi
    for ((n = 0; n < 30; n++)); do
        (($(pcap_count "$DIR/$port-tx.pcap") > before)) && break
        sleep 0.1
    done
    note "sent back on $port ($DIR/$port-tx.pcap):"
    pcap_summary "$DIR/$port-tx.pcap"
}

step "what to look at"
show ovn-appctl -t ovn-controller version
show ovn-appctl -t ovn-controller supervisor/status
show ovn-appctl -t ovn-controller list-commands
show ovn-sbctl show
show ovn-sbctl --format=table --columns=logical_port,type,chassis,up list Port_Binding
show ovs-ofctl dump-aggregate br-int
show ovs-ofctl -O OpenFlow15 --no-stats dump-flows br-int

step "packets (dataplane check)"
note "ARP for the router port is answered by flows (flowctl's job); DHCP goes"
note "to the controller and is answered by pinctrl."
probe sw0-p1 arp 50:54:00:00:00:01 10.0.0.11
probe sw0-p2 dhcp 50:54:00:00:00:02 10.0.0.12

cat <<EOF

==== try it by hand
  Environment for the OVS/OVN tools (paste into a shell):
    export OVS_RUNDIR=$DIR OVS_LOGDIR=$DIR OVS_DBDIR=$DIR OVS_SYSCONFDIR=$DIR
    export OVN_RUNDIR=$DIR OVN_LOGDIR=$DIR OVN_DBDIR=$DIR OVN_SYSCONFDIR=$DIR
    export OVN_NB_DB=$OVN_NB_DB OVN_SB_DB=$OVN_SB_DB
  Then, for example:
    ovn-appctl -t ovn-controller supervisor/status
    ovn-appctl -t ovn-controller version
    ovn-sbctl show
    ovs-ofctl dump-flows br-int | head
    ovn-trace sw0 'inport == "sw0-p1" && eth.src == 50:54:00:00:00:01 && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1 && arp.sha == 50:54:00:00:00:01 && arp.spa == 10.0.0.11 && arp.tpa == 10.0.0.1'
  Logs: $DIR/*.log   Packets the switch sent to a VIF: $DIR/<port>-tx.pcap
EOF

if ((keep)); then
    started=0 # leave it running
    cat <<EOF

The demo keeps running. Stop it with:
    $0 --stop $DIR
EOF
    exit 0
fi

if [[ -t 0 ]]; then
    printf '\nPress Enter (or Ctrl-C) to stop the demo and remove %s.\n' "$DIR"
    read -r _ || true
else
    printf '\nstdin is not a terminal: stopping now (use --keep to leave it running).\n'
fi
# cleanup (EXIT trap) stops the daemons and removes DIR.
