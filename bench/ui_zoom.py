#!/usr/bin/env python3
"""How long the UI takes to zoom and to re-threshold a 1,000,000-point run, in headless Chromium.

Starts `target/release/tsad serve` on a free loopback port with a fresh data directory and
chromedriver beside it, makes the 1M-point demo dataset and a run on it (`mad`, fitted on the
first 100,000 rows), opens the run in the page, then times, from the user's action to the
redrawn charts (the page sets <body data-charts-ready="true"> once the charts hold the new
points):

- zoom: a drag to 10% of the series, then to 0.5% (Plotly.relayout, as a drag does); the page
  waits 180 ms for the drag to settle, fetches the visible range and redraws;
- re-threshold: the sensitivity slider released at another position; the page waits 250 ms,
  applies the threshold on the server, redraws the events, markers and table.

Usage: python3 bench/ui_zoom.py [ROUNDS]   (default 5; prints medians and every round)
Needs chromium and chromedriver (`.ci/install-deps` installs them) and the release binary
(`cargo build --release -p tsad-cli`). Standard library only.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSAD = os.path.join(ROOT, "target", "release", "tsad")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def wait_http(url, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer in {seconds} s")


class Browser:
    def __init__(self, driver_url):
        self.base = driver_url
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium") or "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000", f"--user-data-dir={tempfile.mkdtemp()}"]}}}}
        self.session = call(f"{self.base}/session", "POST", caps)["value"]["sessionId"]

    def go(self, url):
        call(f"{self.base}/session/{self.session}/url", "POST", {"url": url})

    def run(self, script, *args):
        return call(f"{self.base}/session/{self.session}/execute/sync", "POST", {"script": script, "args": list(args)})["value"]

    def timed(self, script, *args):
        """Runs an async script that calls its last argument with the elapsed milliseconds."""
        call(f"{self.base}/session/{self.session}/timeouts", "POST", {"script": 120000})
        return call(f"{self.base}/session/{self.session}/execute/async", "POST", {"script": script, "args": list(args)})["value"]

    def close(self):
        try:
            call(f"{self.base}/session/{self.session}", "DELETE")
        except Exception:
            pass


# Starts the action, then resolves with the milliseconds until the charts hold data again.
UNTIL_REDRAWN = """
const done = arguments[arguments.length - 1];
const action = new Function('arg', arguments[0]);
delete document.body.dataset.chartsReady;
const t0 = performance.now();
action(arguments[1]);
const poll = () => document.body.dataset.chartsReady === 'true'
  ? requestAnimationFrame(() => done(performance.now() - t0))
  : setTimeout(poll, 5);
poll();
"""

ZOOM = """
const div = document.getElementById('chart-main');
const x = div.data.find((t) => t.name === 'actual').x;
const [a, b] = arg;
const at = (f) => x[Math.min(x.length - 1, Math.floor(f * (x.length - 1)))];
Plotly.relayout(div, {'xaxis.range[0]': at(a), 'xaxis.range[1]': at(b)});
"""

RESET = """
Plotly.relayout(document.getElementById('chart-main'), {'xaxis.autorange': true});
"""

SLIDE = """
const s = document.getElementById('sensitivity-slider');
s.value = String(arg);
s.dispatchEvent(new Event('input'));
s.dispatchEvent(new Event('change'));
"""


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    driver = shutil.which("chromedriver")
    if not driver or not os.path.exists(TSAD):
        print("skipped: needs chromedriver and target/release/tsad (cargo build --release -p tsad-cli)")
        return
    data_dir = tempfile.mkdtemp()
    port, dport = free_port(), free_port()
    server = subprocess.Popen([TSAD, "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chrome = subprocess.Popen([driver, f"--port={dport}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        wait_http(f"http://127.0.0.1:{dport}/status")
        ds = call(f"{base}/api/v1/datasets/demo", "POST", {"points": 1_000_000})["id"]
        run = call(f"{base}/api/v1/runs", "POST", {"dataset_id": ds, "detector": {"kind": "mad"}, "train": {"rows": 100_000}})["id"]
        while call(f"{base}/api/v1/runs/{run}")["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(1)
        browser = Browser(f"http://127.0.0.1:{dport}")
        browser.go(f"{base}/#run={run}")
        end = time.time() + 120
        while browser.run("return document.body.dataset.chartsReady === 'true';") is not True:
            if time.time() > end:
                sys.exit("the run's charts did not load in 120 s")
            time.sleep(0.1)
        times = {"zoom to 10%": [], "zoom to 0.5%": [], "re-threshold": []}
        positions = [0.6, 0.5]
        for i in range(rounds):
            browser.timed(UNTIL_REDRAWN, RESET, None)
            times["zoom to 10%"].append(browser.timed(UNTIL_REDRAWN, ZOOM, [0.40, 0.50]))
            times["zoom to 0.5%"].append(browser.timed(UNTIL_REDRAWN, ZOOM, [0.450, 0.455]))
            times["re-threshold"].append(browser.timed(UNTIL_REDRAWN, SLIDE, positions[i % 2]))
        points = browser.run("return document.getElementById('points-note').textContent;")
        print(f"1,000,000-point run ({run}, mad), {rounds} rounds; last view: {points}")
        print("from the action to the redrawn charts, including the page's own debounce "
              "(180 ms after a zoom, 250 ms after the slider is released):")
        for name, ms in times.items():
            print(f"  {name:13} median {statistics.median(ms):7.0f} ms   rounds: {', '.join(f'{m:.0f}' for m in ms)}")
    finally:
        if browser:
            browser.close()
        chrome.terminate()
        server.terminate()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
