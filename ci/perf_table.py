#!/usr/bin/env python3
"""Helper for ci/perf-vs-etcd (stdlib only).

    perf_table.py free-ports N          print N distinct free loopback TCP ports
    perf_table.py leader-first EPS      read `etcdctl endpoint status -w json` on stdin,
                                        print EPS (comma-separated) with the leader first
    perf_table.py parse-bench FILE      parse the output of `metastore bench`, print one JSON object
    perf_table.py table OUT_DIR         print the markdown tables (medians over rounds) from
                                        OUT_DIR/results.jsonl, memory.jsonl and bench.jsonl

results.jsonl has the lines of etcdload's run-suite.sh (tag, suite, label, round, load1,
server_cpu_s, client_cpu_s, args, result) plus "server": "etcd" | "metastore", so
etcdload's summarize.py reads it too. memory.jsonl and bench.jsonl carry their own fields.
"""
import os
import json
import re
import socket
import statistics
import sys
from collections import OrderedDict

SERVERS = ("etcd", "metastore")


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in socks))
    finally:
        for s in socks:
            s.close()


def leader_first(eps):
    eps = eps.split(",")
    try:
        status = json.load(sys.stdin)
        leader = [s["Endpoint"] for s in status
                  if s["Status"]["header"]["member_id"] == s["Status"]["leader"]]
        lead = leader[0].replace("http://", "") if leader else None
        if lead in eps:
            eps.remove(lead)
            eps.insert(0, lead)
            print(f"leader {lead}", file=sys.stderr)
        else:
            print("leader unknown, order unchanged", file=sys.stderr)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        print(f"leader unknown ({e!r}), order unchanged", file=sys.stderr)
    print(",".join(eps))


def parse_bench(path):
    """Best effort: a JSON line with ops_per_s (etcdload style) wins; otherwise look for
    'N ops/s' / 'Requests/sec: N' and 'p99 ... N ms' / '99% in N secs' in the text."""
    text = open(path, errors="replace").read()
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and "ops_per_s" in d:
                out = d
    if not out:
        m = (re.search(r"([0-9][0-9.]*)\s*(?:ops/s|ops/sec|req/s|requests/s)", text, re.I)
             or re.search(r"(?:requests/sec|ops/s|throughput)\W*([0-9][0-9.]*)", text, re.I))
        if m:
            out["ops_per_s"] = float(m.group(1))
        m = re.search(r"p99(?:_ms)?\W*([0-9][0-9.]*)\s*(ms|s|us|µs)?", text, re.I)
        if m:
            scale = {"s": 1000.0, "us": 0.001, "µs": 0.001}.get((m.group(2) or "ms").lower(), 1.0)
            out["p99_ms"] = float(m.group(1)) * scale
        else:
            m = re.search(r"99(?:\.0)?% in ([0-9.]+) secs", text)
            if m:
                out["p99_ms"] = float(m.group(1)) * 1000.0
    if "ops_per_s" not in out:
        out = {"failed": True}
    print(json.dumps(out))


def fmt(x, digits):
    return "—" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def mib(kb):
    return "—" if kb is None else f"{kb / 1024:.1f} MiB"


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def table(out_dir):
    rows = OrderedDict()      # (suite, label) -> server -> [records]
    memory = {}               # server -> record
    bench = OrderedDict()     # label -> server -> [records]
    for d in read_jsonl(os.path.join(out_dir, "results.jsonl")):
        if d["suite"] in ("single", "cluster"):
            rows.setdefault((d["suite"], d["label"]), {}).setdefault(d["server"], []).append(d)
    for d in read_jsonl(os.path.join(out_dir, "memory.jsonl")):
        memory[d["server"]] = d
    for d in read_jsonl(os.path.join(out_dir, "bench.jsonl")):
        bench.setdefault(d["label"], {}).setdefault(d["server"], []).append(d)

    notes = []
    if rows:
        print("| test | etcd ops/s | MetaStore ops/s | ratio (MS/etcd) | etcd p99 ms | MetaStore p99 ms "
              "| p99 ratio (MS/etcd) | etcd CPU ms/1k ops | MetaStore CPU ms/1k ops |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (suite, label), by_server in rows.items():
            ops, p99, cpu = {}, {}, {}
            for s in SERVERS:
                runs = by_server.get(s, [])
                ok = [r for r in runs if "ops_per_s" in r.get("result", {})]
                failed = len(runs) - len(ok)
                errors = sum(r["result"].get("errors", 0) for r in ok)
                if failed or errors:
                    first = next((r["result"].get("first_error") or r["result"].get("stderr")
                                  for r in runs if r["result"].get("first_error") or r["result"].get("stderr")), "")
                    notes.append(f"{suite} {label} on {s}: {failed} failed run(s) of {len(runs)}, "
                                 f"{errors} request error(s){': ' + first if first else ''}")
                ops[s] = med(r["result"]["ops_per_s"] for r in ok)
                p99[s] = med(r["result"].get("p99_ms") for r in ok)
                cpu[s] = med(1e6 * r["server_cpu_s"] / max(1, r["result"]["total"] - r["result"]["errors"])
                             for r in ok if r.get("server_cpu_s") is not None)
            name = ("3-member " if suite == "cluster" else "") + label
            print(f"| {name} | {fmt(ops['etcd'], 0)} | {fmt(ops['metastore'], 0)} "
                  f"| {ratio(ops['metastore'], ops['etcd'])} | {fmt(p99['etcd'], 2)} | {fmt(p99['metastore'], 2)} "
                  f"| {ratio(p99['metastore'], p99['etcd'])} | {fmt(cpu['etcd'], 0)} | {fmt(cpu['metastore'], 0)} |")
        print()
        print("Medians over rounds. Ratio > 1 is better for ops/s, worse for p99 and CPU. "
              "CPU = server utime+stime (all members for the 3-member rows) per 1000 successful requests.")
        print()

    if memory:
        load_keys = next(iter(memory.values())).get("keys")
        print(f"| memory, single node, fresh, {load_keys:,} keys x 256 B | etcd | MetaStore | ratio (MS/etcd) |")
        print("|---|---|---|---|")
        e, m = memory.get("etcd", {}), memory.get("metastore", {})

        def row(name, key, f=mib):
            print(f"| {name} | {f(e.get(key))} | {f(m.get(key))} | {ratio(m.get(key), e.get(key))} |")
        row("VmRSS idle (before the load)", "idle_rss_kb")
        row("VmRSS after the load", "rss_kb")
        row("VmHWM (peak RSS)", "hwm_kb")
        row("data dir (du)", "du_kb")
        row("load ops/s", "load_ops_per_s", lambda x: fmt(x, 0))
        print()
        print("etcd's data dir includes preallocated 64 MB WAL segments.")
        print()

    if bench:
        print("Our own tool, beside etcdload (`metastore bench`, medians):")
        print()
        print("| test | etcd ops/s | MetaStore ops/s | ratio (MS/etcd) | etcd p99 ms | MetaStore p99 ms |")
        print("|---|---|---|---|---|---|")
        for label, by_server in bench.items():
            ops, p99 = {}, {}
            for s in SERVERS:
                ok = [r for r in by_server.get(s, []) if "ops_per_s" in r.get("result", {})]
                ops[s] = med(r["result"]["ops_per_s"] for r in ok)
                p99[s] = med(r["result"].get("p99_ms") for r in ok)
            print(f"| {label} | {fmt(ops['etcd'], 0)} | {fmt(ops['metastore'], 0)} "
                  f"| {ratio(ops['metastore'], ops['etcd'])} | {fmt(p99['etcd'], 2)} | {fmt(p99['metastore'], 2)} |")
        print()

    if notes:
        print("Errors:")
        print()
        for n in notes:
            print(f"* {n}")
        print()


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "free-ports":
        free_ports(int(sys.argv[2]))
    elif cmd == "leader-first":
        leader_first(sys.argv[2])
    elif cmd == "parse-bench":
        parse_bench(sys.argv[2])
    elif cmd == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
