"""Open a report in headless Chromium the way a reader would, and record what happened.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON messages, the transport Puppeteer uses): no TCP port, no
websocket library, and every console message, exception and network request reaches us as an event.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "PageVisit", "chromium_path", "visit"]

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 60.0


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class PageVisit:
    """What a page did while it loaded, and what it looks like."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: Path | None = None


class _Pipe:
    """One DevTools connection over the two pipes Chromium opens with --remote-debugging-pipe."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self._out = to_browser
        self._in = from_browser
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, deadline: float) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise TimeoutError(f"Chromium sent no {method} in time")

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


# What the tests want to know about the page once it has loaded.
PAGE_FACTS = """(() => {
  const images = [...document.images];
  return {
    dir: document.documentElement.getAttribute('dir'),
    lang: document.documentElement.getAttribute('lang'),
    computed_direction: getComputedStyle(document.body).direction,
    images: images.length,
    images_drawn: images.filter(i => i.complete && i.naturalWidth > 0).length,
    charts_drawn: images.filter(i => i.classList.contains('chart') && i.complete
                                 && i.naturalWidth > 0).length,
    scripts: document.scripts.length,
    title: document.title,
    pwned: window.__pwned === true,
    headline: (document.querySelector('.headline') || {}).innerText || '',
    text: document.body.innerText,
  };
})()"""


def visit(html: Path, *, screenshot: Path | None = None, width: int = 1280) -> PageVisit:
    """Load ``html`` in a fresh headless Chromium profile and report errors, requests and facts."""
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    url = html.resolve().as_uri()
    command_read, command_write = os.pipe()
    reply_read, reply_write = os.pipe()

    def connect_pipes() -> None:  # runs in the child: Chromium reads fd 3 and writes fd 4
        # Move both ends above 3 and 4 first, so that neither dup2 overwrites the other.
        high_read = fcntl.fcntl(command_read, fcntl.F_DUPFD, 10)
        high_write = fcntl.fcntl(reply_write, fcntl.F_DUPFD, 10)
        os.dup2(high_read, 3)
        os.dup2(high_write, 4)

    with tempfile.TemporaryDirectory(prefix="railwatch-chromium-") as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=connect_pipes, pass_fds=(3, 4),
        )
        os.close(command_read)
        os.close(reply_write)
        pipe = _Pipe(command_write, reply_read)
        try:
            return _drive(pipe, url, screenshot, width)
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                pipe.send("Browser.close")
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(command_write)
            os.close(reply_read)


def _drive(pipe: _Pipe, url: str, screenshot: Path | None, width: int) -> PageVisit:
    deadline = time.monotonic() + TIMEOUT_S
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
              session=session)
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": url}, session=session)
    pipe.wait_for("Page.loadEventFired", deadline)
    result = pipe.send("Runtime.evaluate", {"expression": PAGE_FACTS, "returnByValue": True},
                       session=session)
    outcome = PageVisit(facts=result["result"]["value"])
    for event in pipe.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            outcome.console_errors.append(json.dumps(params.get("args"))[:300])
        elif method == "Runtime.exceptionThrown":
            outcome.console_errors.append(json.dumps(params.get("exceptionDetails"))[:300])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            outcome.console_errors.append(params["entry"].get("text", "")[:300])
        elif method == "Network.requestWillBeSent":
            outcome.requests.append(params["request"]["url"])
    if screenshot is not None:
        metrics = pipe.send("Page.getLayoutMetrics", session=session)
        height = int(metrics["cssContentSize"]["height"])
        shot = pipe.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True,
             "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
            session=session,
        )
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        outcome.screenshot = screenshot
    return outcome
