"""The dashboard (/ui) in a real headless Chromium, driven by Selenium.

Starts a 3-member MetaStore cluster on free loopback ports, then:
  1. the page loads on every member and shows 3 members, exactly one of them leader;
  2. a key written with the real etcdctl appears in the key list and the live events
     within 2 s, and selecting it shows its value and history;
  3. after the leader is killed, the page (on a surviving member) shows another
     leader and the dead member as unreachable;
and saves a screenshot (argv[2], PNG).

Usage: python ui_check.py METASTORE_BINARY SCREENSHOT.png [ETCDCTL]
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BIN, SHOT = sys.argv[1], sys.argv[2]
ETCDCTL = sys.argv[3] if len(sys.argv) > 3 else None


def free_port():
    while True:
        port = random.randint(20000, 31999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def start_cluster(names):
    ports = {n: (free_port(), free_port()) for n in names}
    cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, (_, p) in ports.items())
    procs, root = {}, tempfile.mkdtemp(prefix="ui-check-")
    for n, (c, p) in ports.items():
        log = open(os.path.join(root, f"{n}.log"), "wb")
        procs[n] = subprocess.Popen(
            [BIN, "--name", n, "--data-dir", os.path.join(root, n),
             "--listen-client-urls", f"http://127.0.0.1:{c}", "--advertise-client-urls", f"http://127.0.0.1:{c}",
             "--listen-peer-urls", f"http://127.0.0.1:{p}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
             "--initial-cluster", cluster, "--initial-cluster-state", "new"],
            stdout=log, stderr=subprocess.STDOUT)
    return ports, procs, root


def wait(what, check, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # the page is mid-update; try again
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def member_rows(driver):
    rows = driver.find_elements(By.CSS_SELECTOR, "#members tbody tr")
    return [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]


def leaders(rows):
    return [r[0] for r in rows if len(r) > 2 and r[2] == "leader"]


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--user-data-dir=" + tempfile.mkdtemp(prefix="ui-check-chromium-")]:
        opts.add_argument(a)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=opts, service=service)


def main():
    names = ["u1", "u2", "u3"]
    ports, procs, root = start_cluster(names)
    driver = None
    try:
        import urllib.request

        def healthy(port):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return r.status == 200
        for n in names:
            wait(f"{n} healthy", lambda: healthy(ports[n][0]), 60)
        driver = browser()
        # 1. Every member serves the page; each shows 3 members and one leader.
        for n in names:
            driver.get(f"http://127.0.0.1:{ports[n][0]}/ui")
            rows = wait(f"3 members and a leader on {n}'s page",
                        lambda: (lambda r: r if len(r) == 3 and len(leaders(r)) == 1 else None)(member_rows(driver)), 30)
            assert all(r[10] == "healthy" for r in rows), rows
            # Each live member's raft term, index and revision are shown.
            assert all(r[4].isdigit() and int(r[4]) >= 1 and r[5].isdigit() and r[7].isdigit() for r in rows), rows
            print(f"ui_check: {n}: members {[r[0] for r in rows]}, leader {leaders(rows)[0]}")
        leader = leaders(member_rows(driver))[0]
        follower = next(n for n in names if n != leader)
        driver.get(f"http://127.0.0.1:{ports[follower][0]}/ui")
        wait("the page", lambda: len(member_rows(driver)) == 3, 10)
        wait("the live watch", lambda: "(live)" in driver.find_element(By.ID, "watch-state").text, 10)

        # 2. A key written with etcdctl (or, without it, through the REST face) shows within 2 s.
        endpoint = f"127.0.0.1:{ports[leader][0]}"
        if ETCDCTL:
            subprocess.run([ETCDCTL, f"--endpoints={endpoint}", "put", "ui/hello", "world"], check=True,
                           env=dict(os.environ, ETCDCTL_API="3"), stdout=subprocess.DEVNULL)
        else:
            urllib.request.urlopen(urllib.request.Request(f"http://{endpoint}/kv/ui/hello", data=b"world", method="PUT"))
        written = time.time()
        wait("ui/hello in the key list",
             lambda: any(r.get_attribute("data-key") == "ui/hello" for r in driver.find_elements(By.CSS_SELECTOR, "#keys tbody tr")), 2)
        assert "ui/hello = world" in driver.find_element(By.ID, "events").text
        print(f"ui_check: key written with {'etcdctl' if ETCDCTL else 'REST'} shown after {time.time() - written:.2f}s")
        driver.find_element(By.CSS_SELECTOR, "#keys tbody tr[data-key='ui/hello']").click()
        wait("the value", lambda: "world" in driver.find_element(By.ID, "key-detail").text, 5)
        wait("the history", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")) >= 1, 5)

        # 3. Kill the leader: the page shows a new one and the dead member unreachable.
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait()
        rows = wait("a new leader",
                    lambda: (lambda r: r if len(leaders(r)) == 1 and leaders(r)[0] != leader else None)(member_rows(driver)), 30)
        dead = next(r for r in rows if r[0] == leader)
        assert dead[10] == "unreachable", dead
        print(f"ui_check: leader {leader} killed; page shows leader {leaders(rows)[0]}, {leader} unreachable")
        # The same page keeps following writes after the change.
        endpoint = f"127.0.0.1:{ports[follower][0]}"
        urllib.request.urlopen(urllib.request.Request(f"http://{endpoint}/kv/ui/after", data=b"change", method="PUT"))
        wait("ui/after", lambda: "ui/after = change" in driver.find_element(By.ID, "events").text, 5)
        driver.save_screenshot(SHOT)
        print(f"ui_check: screenshot {SHOT}")
        print("ui_check: OK")
    finally:
        if driver:
            driver.quit()
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
