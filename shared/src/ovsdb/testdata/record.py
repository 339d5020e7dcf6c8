#!/usr/bin/env python3
"""Records the *.jsonl fixtures replayed by ../tests.rs from a real ovsdb-server.

Usage (in a scratch dir, with OVS 3.1 / OVN 23.03 packages installed):
    ovsdb-tool create vs.db /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-tool create-cluster sb.db /usr/share/ovn/ovn-sb.ovsschema unix:$PWD/raft.sock
    ovsdb-server vs.db --remote=punix:$PWD/vs.sock --detach --pidfile=$PWD/vs.pid ...
    ovsdb-server sb.db --remote=punix:$PWD/sb.sock --detach --pidfile=$PWD/sb.pid ...
    VS=$PWD/vs.sock SB=$PWD/sb.sock record.py vswitch-update2.jsonl sb-update3.jsonl sb-resume.jsonl
Each output line is one message as the server sent it (replies and notifications).
UUIDs change on every recording: update the constants in ../tests.rs.
"""
import os
import json, socket, sys, time
def conn(path):
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(2); return s
class C:
    def __init__(s, path): s.s = conn(path); s.buf = b""; s.dec = json.JSONDecoder(); s.id = 0; s.log = []
    def send(s, m, p):
        s.id += 1; s.s.sendall(json.dumps({"method": m, "params": p, "id": s.id}).encode()); return s.id
    def recv(s):
        while True:
            t = s.buf.decode().lstrip()
            if t:
                try:
                    obj, end = s.dec.raw_decode(t); s.buf = t[end:].encode(); return obj
                except ValueError: pass
            s.buf += s.s.recv(1 << 20)
    def call(s, m, p, record=True):
        i = s.send(m, p)
        while True:
            o = s.recv()
            if record and o.get("id") is None: s.log.append(o)
            if o.get("id") == i:
                if record: s.log.append(o)
                return o
    def drain(s, t=0.5):
        end = time.time() + t
        while time.time() < end:
            try: s.log.append(s.recv())
            except socket.timeout: break
def txn(c, db, *ops):
    r = c.call("transact", [db] + list(ops), record=False); assert all("error" not in x for x in r["result"] if x), r; return r["result"]

# update2 on Open_vSwitch
w = C(os.environ["VS"]); m = C(os.environ["VS"])
txn(w, "Open_vSwitch", {"op": "insert", "table": "Open_vSwitch", "row": {"external_ids": ["map", [["system-id", "hv1"]]]}})
m.call("monitor_cond", ["Open_vSwitch", ["m"], {"Open_vSwitch": [{"columns": ["external_ids", "bridges", "next_cfg"]}], "Bridge": [{"columns": ["name", "ports", "external_ids", "fail_mode", "datapath_type"]}], "Port": [{"columns": ["name", "tag", "trunks"]}]}])
txn(w, "Open_vSwitch",
    {"op": "insert", "table": "Interface", "row": {"name": "p1"}, "uuid-name": "i1"},
    {"op": "insert", "table": "Port", "row": {"name": "p1", "tag": 5, "trunks": ["set", [1, 2]], "interfaces": ["named-uuid", "i1"]}, "uuid-name": "p1"},
    {"op": "insert", "table": "Bridge", "row": {"name": "br-int", "ports": ["named-uuid", "p1"], "fail_mode": "secure", "external_ids": ["map", [["a", "1"], ["b", "2"]]]}, "uuid-name": "br"},
    {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "insert", ["set", [["named-uuid", "br"]]]], ["next_cfg", "+=", 1]]})
m.drain()
txn(w, "Open_vSwitch",
    {"op": "insert", "table": "Interface", "row": {"name": "p2"}, "uuid-name": "i2"},
    {"op": "insert", "table": "Port", "row": {"name": "p2", "interfaces": ["named-uuid", "i2"]}, "uuid-name": "p2"},
    {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]], "mutations": [["ports", "insert", ["set", [["named-uuid", "p2"]]]], ["external_ids", "delete", ["set", ["a"]]], ["external_ids", "insert", ["map", [["c", "3"]]]]]},
    {"op": "update", "table": "Bridge", "where": [["name", "==", "br-int"]], "row": {"fail_mode": ["set", []], "datapath_type": "netdev"}},
    {"op": "update", "table": "Port", "where": [["name", "==", "p1"]], "row": {"tag": 7, "trunks": ["set", [2, 3]]}})
m.drain()
txn(w, "Open_vSwitch", {"op": "update", "table": "Bridge", "where": [["name", "==", "br-int"]], "row": {"external_ids": ["map", [["b", "20"], ["c", "3"]]]}})
m.drain()
txn(w, "Open_vSwitch",
    {"op": "update", "table": "Open_vSwitch", "where": [], "row": {"bridges": ["set", []]}})
m.drain()
with open(sys.argv[1], "w") as f:
    for o in m.log: f.write(json.dumps(o, sort_keys=True) + "\n")

# update3 on OVN_Southbound (clustered, keeps history)
w = C(os.environ["SB"]); m = C(os.environ["SB"])
# ovsdb-server keeps no more history (in atoms) than the database holds: make it big.
txn(w, "OVN_Southbound", {"op": "insert", "table": "Address_Set", "row": {"name": "big", "addresses": ["set", ["10.0.%d.%d" % (i // 250, i % 250) for i in range(1000)]]}})
txn(w, "OVN_Southbound", {"op": "insert", "table": "Chassis", "row": {"name": "hv1", "hostname": "h1", "encaps": ["named-uuid", "e"]}, "uuid-name": "c"},
    {"op": "insert", "table": "Encap", "row": {"type": "geneve", "ip": "10.0.0.1", "chassis_name": "hv1", "options": ["map", [["csum", "true"]]]}, "uuid-name": "e"})
mon = {"Chassis": [{"columns": ["name", "hostname", "encaps", "external_ids"]}], "Encap": [{"columns": ["type", "ip", "options"]}], "Datapath_Binding": [{"columns": ["tunnel_key", "external_ids"]}]}
r = m.call("monitor_cond_since", ["OVN_Southbound", ["d"], mon, "00000000-0000-0000-0000-000000000000"])
txn(w, "OVN_Southbound", {"op": "insert", "table": "Datapath_Binding", "row": {"tunnel_key": 1, "external_ids": ["map", [["name", "ls1"]]]}})
m.drain()
txn(w, "OVN_Southbound", {"op": "update", "table": "Chassis", "where": [["name", "==", "hv1"]], "row": {"hostname": "h1b", "external_ids": ["map", [["k", "v"]]]}},
    {"op": "update", "table": "Encap", "where": [], "row": {"options": ["map", [["csum", "false"], ["dst_port", "6081"]]]}})
m.drain()
mid_id = m.log[-1]["params"][1]
txn(w, "OVN_Southbound", {"op": "delete", "table": "Datapath_Binding", "where": []})
m.drain()
# resume from the middle: the server sends only what changed after mid_id
m2 = C(os.environ["SB"])
m2.call("monitor_cond_since", ["OVN_Southbound", ["d"], mon, mid_id])
m2.drain()
with open(sys.argv[2], "w") as f:
    for o in m.log: f.write(json.dumps(o, sort_keys=True) + "\n")
with open(sys.argv[3], "w") as f:
    for o in m2.log: f.write(json.dumps(o, sort_keys=True) + "\n")
