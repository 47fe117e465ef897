"""A small Chrome DevTools Protocol client for the browser tests of the demos.

Starts a headless Chromium (Debian's ``chromium-headless-shell`` or any Chromium/Chrome) and
``marimo run`` on 127.0.0.1, and drives pages over the DevTools websocket with the
``websockets`` package (synchronous client).  Everything stays on the loopback interface:
Chromium is started with the switches that stop its background network traffic (component
updates, sync, metrics, first-run tasks) and a fresh profile directory.

The browser binary is found at run time: ``$DFC_CHROME`` if set, else the first of
``BROWSER_NAMES`` on the PATH, else the locations where Debian and Ubuntu packages install
Chromium (``DEBIAN_LOCATIONS``).
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BROWSER_NAMES = ("chromium-headless-shell", "chrome-headless-shell", "headless_shell",
                 "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN_LOCATIONS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium",
                    "/usr/lib/chromium-browser/chromium-browser")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-default-apps",
                "--disable-extensions", "--metrics-recording-only", "--mute-audio",
                "--hide-scrollbars", "--window-size=1100,900")


def find_browser():
    """Path of a Chromium-like browser, or None."""
    env = os.environ.get("DFC_CHROME")
    if env:
        return env if (os.path.isfile(env) and os.access(env, os.X_OK)) else None
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    for path in DEBIAN_LOCATIONS:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _connect(url, max_size):
    """A synchronous websocket connection (entered as a context manager by the caller)."""
    from websockets.sync.client import connect
    return connect(url, max_size=max_size, open_timeout=20)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout):
    """Wait until ``url`` answers (any HTTP status); raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


def _stop(proc, timeout=10):
    """End a process started with start_new_session=True and its children."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class MarimoServer:
    """``marimo run --headless`` on 127.0.0.1 at a free port, serving a notebook or a folder
    of notebooks (then ``url(name)`` opens one of them); tracebacks are shown in the page so
    that a failing cell is visible to the test.  Its output goes to ``log_path``."""

    def __init__(self, target, log_path, startup_timeout=60):
        self.port = free_port()
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w")
        cmd = [sys.executable, "-m", "marimo", "run", "--headless", "--show-tracebacks",
               "--host", "127.0.0.1", "--port", str(self.port), str(target)]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_http(self.base, startup_timeout)
        except TimeoutError:
            self.close()
            raise

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}/"

    def url(self, name=None):
        return self.base if name is None else f"{self.base}?file={name}"

    def log(self):
        self._log.flush()
        return self.log_path.read_text()

    def close(self):
        _stop(self.proc)
        self._log.close()


class Page:
    """One browser tab, driven over its DevTools websocket."""

    def __init__(self, ws_url, target_id, browser):
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(_connect(ws_url, max_size=2**27))
        self.target_id = target_id
        self.browser = browser
        self._id = 0
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method, timeout=30, **params):
        """Send a command and return its result (events arriving meanwhile are dropped)."""
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer within {timeout} s")
            msg = json.loads(self.ws.recv(timeout=left))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression):
        """Value of a JavaScript expression (JSON-serialisable; promises are awaited)."""
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JavaScript error in {expression[:80]!r}: "
                               f"{r['exceptionDetails'].get('text')} "
                               f"{r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout, interval=0.05):
        """Poll a JavaScript expression until it is truthy; return (value, seconds waited)."""
        t0 = time.monotonic()
        while True:
            value = self.evaluate(expression)
            if value:
                return value, time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"not true within {timeout} s: {expression}")
            time.sleep(interval)

    def navigate(self, url):
        self.send("Page.navigate", url=url)

    def press(self, key, code, key_code):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code,
                      windowsVirtualKeyCode=key_code, nativeVirtualKeyCode=key_code)

    def screenshot(self, path, clip=None, colors=128):
        """PNG of the viewport (or of ``clip`` = {x, y, width, height} in CSS pixels),
        reduced to a palette of ``colors`` colours to keep the file small."""
        from PIL import Image
        params = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        data = self.send("Page.captureScreenshot", timeout=60, **params)["data"]
        img = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
        img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path,
                                                                          optimize=True)
        return path

    def close(self):
        try:
            self._stack.close()
        finally:
            self.browser.close_target(self.target_id)


class Browser:
    """A headless Chromium with a fresh profile and remote debugging on a free port."""

    def __init__(self, binary, startup_timeout=30):
        self.profile = tempfile.mkdtemp(prefix="dfc-chrome-")
        self._err = open(os.path.join(self.profile, "stderr.log"), "w")
        self.proc = subprocess.Popen(
            [binary, *CHROME_FLAGS, f"--user-data-dir={self.profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self._err, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + startup_timeout
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{binary} did not start (exit {self.proc.returncode}); "
                                   f"see its stderr in {self.profile}")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])
        version = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}/json/version", timeout=10))
        self.version = version.get("Browser", "?")
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(_connect(version["webSocketDebuggerUrl"],
                                                     max_size=2**24))
        self._id = 0

    def _send(self, method, **params):
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def new_page(self, width=1100, height=900):
        target = self._send("Target.createTarget", url="about:blank")["targetId"]
        page = Page(f"ws://127.0.0.1:{self.port}/devtools/page/{target}", target, self)
        page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        return page

    def close_target(self, target_id):
        try:
            self._send("Target.closeTarget", targetId=target_id)
        except Exception:  # the browser may already be gone
            pass

    def close(self):
        try:
            if getattr(self, "_stack", None) is not None:
                self._stack.close()
        finally:
            _stop(self.proc)
            self._err.close()
            shutil.rmtree(self.profile, ignore_errors=True)
