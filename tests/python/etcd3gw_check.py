#!/usr/bin/env python3
"""Exercise an etcd-compatible server's HTTP JSON gateway through etcd3gw, the Python
client OpenStack uses (it speaks only the gateway: /version, /v3/kv/*, /v3/lease/*,
/v3/kv/lease/*, /v3/watch, /v3/cluster/member/list, /v3/maintenance/status).

Usage: etcd3gw_check.py [HOST:PORT]   (default: $ENDPOINT, else 127.0.0.1:2379)

Every check prints "ok   <name>" or "FAIL <name>: <why>"; the last line is
"etcd3gw checks: N passed, M failed"; the exit status is 1 if any check failed.
All keys live under a fresh prefix, and are deleted at the end, so the script can run
against a server that holds other data.
"""

import importlib.metadata
import os
import sys
import threading
import traceback
import uuid

import etcd3gw
from etcd3gw.utils import LOCK_PREFIX

WAIT = 10.0  # seconds: the most any single wait may take


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {name}: {detail}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {name}", flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(got, want, what):
    expect(got == want, f"{what}: got {got!r}, want {want!r}")


def next_within(events, what):
    """The next item of a blocking iterator, within WAIT seconds."""
    box = {}

    def take():
        try:
            box["v"] = next(events)
        except Exception as e:  # noqa: BLE001
            box["e"] = e

    t = threading.Thread(target=take, daemon=True)
    t.start()
    t.join(WAIT)
    if t.is_alive():
        raise AssertionError(f"{what}: nothing within {WAIT}s")
    if "e" in box:
        raise box["e"]
    return box["v"]


def main():
    endpoint = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ENDPOINT", "127.0.0.1:2379")
    endpoint = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = endpoint.rpartition(":")
    run = uuid.uuid4().hex[:10]
    p = f"/etcd3gw-check/{run}/"
    version = importlib.metadata.version("etcd3gw")
    print(f"etcd3gw {version} against http://{host}:{port}, keys under {p}", flush=True)
    c = etcd3gw.client(host=host, port=int(port), timeout=WAIT)
    checks = Checks()
    k = lambda name: p + name  # noqa: E731

    # --- discovery, cluster -------------------------------------------------
    def api_path():
        # etcd3gw picks /v3/ for a server whose /version says 3.4 or later.
        eq(c.api_path, "/v3/", "API path discovered from /version")

    def status():
        s = c.status()
        expect("version" in s and "header" in s, f"status has version and header: {s!r}")
        expect(s.get("leader"), f"status names a leader: {s!r}")

    def members():
        ms = c.members()
        expect(len(ms) >= 1, f"at least one member: {ms!r}")
        expect(all("ID" in m and m.get("clientURLs") for m in ms), f"members have ID and clientURLs: {ms!r}")

    checks.run("discovery: /version -> /v3/", api_path)
    checks.run("maintenance status", status)
    checks.run("cluster member list", members)

    # --- KV -----------------------------------------------------------------
    def put_get():
        expect(c.put(k("a"), "v1") is True, "put returns True")
        eq(c.get(k("a")), [b"v1"], "get after put")
        expect(c.put(k("a"), "v2"), "second put")
        [(value, meta)] = c.get(k("a"), metadata=True)
        eq(value, b"v2", "value with metadata")
        eq(meta["key"], k("a").encode(), "metadata key")
        eq(int(meta["version"]), 2, "metadata version")
        expect(int(meta["mod_revision"]) > int(meta["create_revision"]) > 0, f"revisions in order: {meta!r}")
        eq(c.get(k("missing")), [], "get of a missing key")

    def binary_values():
        raw = bytes(range(256))
        expect(c.put(k("bin"), raw), "put of binary bytes")
        eq(c.get(k("bin")), [raw], "binary value round trip")

    def prefix():
        for i in (3, 1, 2):
            c.put(k(f"pre/{i}"), f"p{i}")
        # get_prefix answers (value, metadata) pairs.
        up = c.get_prefix(k("pre/"), sort_order="ascend", sort_target="key")
        eq([(v, m["key"]) for v, m in up], [(f"p{i}".encode(), k(f"pre/{i}").encode()) for i in (1, 2, 3)], "ascending")
        down = c.get_prefix(k("pre/"), sort_order="descend", sort_target="create")
        eq([v for v, _ in down], [b"p2", b"p1", b"p3"], "descending by create revision")
        eq(c.get_prefix(k("pre/x")), [], "empty prefix")

    def replace():
        expect(c.replace(k("a"), "v2", "v3") is True, "replace with the right old value")
        expect(c.replace(k("a"), "nope", "v4") is False, "replace with a wrong old value fails")
        eq(c.get(k("a")), [b"v3"], "value after replace")

    def create():
        expect(c.create(k("c"), "first") is True, "create of a new key")
        expect(c.create(k("c"), "second") is False, "create of an existing key fails")
        eq(c.get(k("c")), [b"first"], "create kept the first value")

    def delete():
        expect(c.delete(k("a")) is True, "delete of an existing key")
        expect(c.delete(k("a")) is False, "delete of a deleted key")
        eq(c.get(k("a")), [], "get after delete")
        expect(c.delete_prefix(k("pre/")) is True, "delete_prefix")
        eq(c.get_prefix(k("pre/")), [], "prefix after delete_prefix")

    def transaction():
        from etcd3gw.utils import _encode

        c.put(k("t"), "x")
        txn = {
            "compare": [{"key": _encode(k("t")), "result": "EQUAL", "target": "VALUE", "value": _encode("x")}],
            "success": [
                {"request_put": {"key": _encode(k("t")), "value": _encode("y")}},
                {"request_range": {"key": _encode(k("t"))}},
            ],
            "failure": [],
        }
        r = c.transaction(txn)
        expect(r.get("succeeded") is True, f"txn succeeded: {r!r}")
        kvs = r["responses"][1]["response_range"]["kvs"]
        eq([kv["value"] for kv in kvs], [_encode("y")], "txn's own range sees its put")
        r = c.transaction(txn)
        expect("succeeded" not in r, f"the compare fails the second time (false is omitted): {r!r}")

    checks.run("kv: put / get / metadata", put_get)
    checks.run("kv: binary value", binary_values)
    checks.run("kv: get_prefix sorted", prefix)
    checks.run("kv: replace (txn compare on value)", replace)
    checks.run("kv: create (txn compare on create_revision)", create)
    checks.run("kv: delete / delete_prefix", delete)
    checks.run("kv: transaction", transaction)

    # --- leases -------------------------------------------------------------
    def leases():
        lease = c.lease(ttl=30)
        expect(lease.id > 0, f"lease ID: {lease.id}")
        expect(c.put(k("leased"), "l", lease=lease), "put with the lease")
        eq(lease.keys(), [k("leased").encode()], "lease keys (/v3/kv/lease/timetolive)")
        ttl = lease.ttl()
        expect(0 < ttl <= 30, f"remaining TTL in 1..=30: {ttl}")
        eq(lease.refresh(), 30, "keepalive (/v3/lease/keepalive) answers the full TTL")
        expect(lease.revoke() is True, "revoke (/v3/kv/lease/revoke)")
        eq(c.get(k("leased")), [], "the lease's key went with it")
        eq(lease.ttl(), -1, "TTL of a revoked lease")
        eq(lease.refresh(), -1, "keepalive of a revoked lease (TTL absent)")

    checks.run("lease: grant / keys / ttl / refresh / revoke", leases)

    # --- watch --------------------------------------------------------------
    def watch_key():
        events, cancel = c.watch(k("w"))
        try:
            c.put(k("w"), "w1")
            e = next_within(events, "put event")
            eq((e["kv"]["key"], e["kv"]["value"]), (k("w").encode(), b"w1"), "first event")
            expect(e.get("type", "PUT") == "PUT", f"a put event: {e!r}")
            c.put(k("w-other"), "ignored")
            c.put(k("w"), "w2")
            e = next_within(events, "second put event")
            eq(e["kv"]["value"], b"w2", "second event (another key's put not seen)")
            c.delete(k("w"))
            e = next_within(events, "delete event")
            eq((e.get("type"), e["kv"]["key"]), ("DELETE", k("w").encode()), "delete event")
        finally:
            cancel()

    def watch_prefix():
        events, cancel = c.watch_prefix(k("wp/"))
        try:
            c.put(k("wq"), "outside")
            c.put(k("wp/a"), "in")
            e = next_within(events, "event under the prefix")
            eq((e["kv"]["key"], e["kv"]["value"]), (k("wp/a").encode(), b"in"), "prefix event")
        finally:
            cancel()

    def watch_history():
        c.put(k("h"), "old")
        [(_, meta)] = c.get(k("h"), metadata=True)
        c.put(k("h"), "new")
        events, cancel = c.watch(k("h"), start_revision=int(meta["mod_revision"]))
        try:
            got = [next_within(events, "catch-up event")["kv"]["value"] for _ in range(2)]
            eq(got, [b"old", b"new"], "events from start_revision")
        finally:
            cancel()

    def watch_once():
        box = {}
        t = threading.Thread(target=lambda: box.update(e=c.watch_once(k("o"), timeout=WAIT)), daemon=True)
        t.start()
        # The watch is created inside the thread: write until it has seen a write.
        for i in range(200):
            if not t.is_alive():
                break
            c.put(k("o"), f"o{i}")
            t.join(0.05)
        t.join(WAIT)
        expect("e" in box, "watch_once returned an event")
        expect(box["e"]["kv"]["key"] == k("o").encode(), f"watch_once event: {box['e']!r}")

    checks.run("watch: key, events from puts made meanwhile, delete", watch_key)
    checks.run("watch: prefix", watch_prefix)
    checks.run("watch: from a start revision", watch_history)
    checks.run("watch: watch_once", watch_once)

    # --- locks (a lease + txn on /locks/<name>) -------------------------------
    lock_name = f"etcd3gw-check-{run}"

    def locks():
        a = c.lock(lock_name, ttl=30)
        b = c.lock(lock_name, ttl=30)
        try:
            expect(a.acquire() is True, "first acquire")
            expect(a.is_acquired(), "holder sees the lock")
            expect(b.acquire() is False, "second client cannot acquire")
            expect(not b.is_acquired(), "second client does not hold it")
            eq(a.refresh(), 30, "lock refresh (keepalive of its lease)")
            expect(a.release() is True, "release")
            expect(not a.is_acquired(), "released")
            expect(b.release() is False, "release by a non-holder fails")
            expect(b.acquire() is True, "acquire after release")
            expect(b.release() is True, "second release")
        finally:
            for lk in (a, b):
                if lk.lease is not None:
                    lk.lease.revoke()

    def lock_context():
        with c.lock(lock_name + "-ctx", ttl=30) as lk:
            expect(lk.is_acquired(), "held inside the with block")
            held = lk
        expect(not held.is_acquired(), "released after the with block")
        held.lease.revoke()

    def lock_expires():
        lk = c.lock(lock_name + "-exp", ttl=30)
        expect(lk.acquire(), "acquire")
        lk.lease.revoke()
        expect(not lk.is_acquired(), "revoking the lease frees the lock")
        other = c.lock(lock_name + "-exp", ttl=30)
        expect(other.acquire(), "another client acquires it")
        other.release()
        other.lease.revoke()

    checks.run("lock: acquire / contention / refresh / release", locks)
    checks.run("lock: context manager", lock_context)
    checks.run("lock: freed with its lease", lock_expires)

    # --- clean up ---------------------------------------------------------------
    def cleanup():
        c.delete_prefix(p)
        c.delete_prefix(LOCK_PREFIX + lock_name)
        eq(c.get_prefix(p), [], "nothing left under the prefix")

    checks.run("cleanup", cleanup)

    print(f"etcd3gw checks: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
