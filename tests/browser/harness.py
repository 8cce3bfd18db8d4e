"""Browser-test harness (headless Debian Chromium through Playwright), reused by every page's tests.
Import it as ``from harness import ...`` (pytest puts this folder on the path); the fixtures are
in ``conftest.py`` beside it.


- `live_app` / `start_live_app(...)`: the whole web tier (`create_app`) on a free port in a thread,
  with a fresh Runtime (SQLite in a temp dir, in-process Redis), a user per role and an API key.
- `signed_in(role)`: a Playwright page at 1920×1080 signed in through the login form.
- `screenshot(page, name)`: a PNG under ``screenshots/`` (gitignored) — look at it.

Dash's page registry is global: `create_app` empties and refills it, and the `dash_pages_reset`
fixture empties it again after each test so no test sees another's pages.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.clock import SystemClock
from store.runtime import Runtime
from store.settings import Settings

CHROMIUM = os.environ.get("CITYOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PASSWORD = "correct-horse-battery"
ROLES = ("operator", "supervisor", "shift_lead", "wall", "admin")
VIEWPORT = {"width": 1920, "height": 1080}

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveApp:
    """A running web tier: its runtime, base URL, users (all with `PASSWORD`) and an API key."""

    rt: Runtime
    url: str
    web: Any
    server: Any
    thread: threading.Thread
    api_key: str = ""
    users: dict[str, str] = field(default_factory=dict)  # role -> username

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.web.close()
        self.rt.close()


class NetworkCut:
    """A TCP relay in front of the app whose `cut()` drops every connection and refuses new ones
    until `restore()`: what a network drop or a server restart looks like to the browser."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def start_live_app(tmp_path: Path, *, prepare: Callable[[Runtime], Any] | None = None,
                   extend: Callable[[Any], None] | None = None, **settings: Any) -> LiveApp:
    """Start the app on a free port. `prepare(rt)` runs before the app is built (seed data);
    `extend(web)` after it, before serving (extra callbacks for a test)."""
    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from store import accounts

    port = free_port()
    s = Settings(data_dir=tmp_path / "var", redis_prefix="t" + uuid.uuid4().hex[:10], simulator="off",
                 port=port, _env_file=None, **settings)  # type: ignore[call-arg]
    rt = Runtime.start(s, clock=SystemClock())
    users = {}
    with rt.session() as sess:
        for role in ROLES:
            accounts.add_user(sess, f"{role}1", PASSWORD, role, now=rt.clock.now(), language="en")
            users[role] = f"{role}1"
        key = accounts.create_api_key(sess, "browser-tests", now=rt.clock.now())
    if prepare is not None:
        prepare(rt)
    web = create_app(rt)
    if extend is not None:
        extend(web)
    server = make_server("127.0.0.1", port, web.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"web-{port}", daemon=True)
    thread.start()
    return LiveApp(rt, f"http://127.0.0.1:{port}", web, server, thread, key, users)


def sign_in(browser: Any, app: LiveApp, role: str, *, viewport: dict[str, int] | None = None, path: str = "",
            base: str | None = None) -> Any:
    """A new page signed in as `role` through the login form; lands where that role lands.
    `base` replaces the app's URL (e.g. a `NetworkCut` in front of it)."""
    context = browser.new_context(viewport=viewport or VIEWPORT, locale="en-GB")
    page = context.new_page()
    page.goto((base or app.url) + "/login" + (f"?next={path}" if path else ""))
    page.fill("#username", app.users[role])
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    page.wait_for_selector("#shell-user", timeout=15_000)
    return page


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_connected(page: Any, app: LiveApp | None = None, *domains: str, timeout_ms: int = 10_000) -> None:
    """Until the header says the live socket is connected and (given `app`) some socket has
    joined the room of each of `domains` (the page's socketId callback does that just after)."""
    page.wait_for_selector("#shell-live.is-connected", timeout=timeout_ms)
    if app is None:
        time.sleep(0.5)
        return
    from dashboard.live import room

    manager = app.web.socketio.server.manager
    deadline = time.monotonic() + timeout_ms / 1000
    for domain in domains:
        while not list(manager.get_participants("/", room(domain))):
            assert time.monotonic() < deadline, f"no socket joined {room(domain)}"
            time.sleep(0.05)


def observation(sensor_id: str, values: dict[str, float], at: Any = None) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {"sensor_id": sensor_id, "time": (at or datetime.now(UTC)).isoformat(), "values": values}


def seed_city(rt: Runtime, *, speed: float = 42.0, pm25: float = 12.0) -> Any:
    """Register the pack's detectors and air sensors and give each a first reading (via ingest)."""
    from feeds import ingest, sensors
    from feeds.live_queries import city_pack

    pack = city_pack(rt)
    sites = [s for s in pack.sensors if s.kind in ("detector", "air")]
    sensors.register_sites(rt, sites)
    obs = [observation(s.id, {"speed_kmh": speed} if s.kind == "detector" else
                       {"pm25": pm25, "pm10": pm25 * 1.8, "o3": 0.02, "no2": 0.015}) for s in sites]
    ingest.ingest(rt, obs, source="browser-test")
    rt.coalescer.flush(force=True)
    return pack


def shorten_intervals(rt: Runtime, seconds: int) -> None:
    """Re-register the pack's detectors and air sensors with a `seconds` interval, so a test of
    staleness (two of the feed's own sensor intervals, `feeds.live_queries.feed_interval_s`)
    need not wait the pack's minutes."""
    from dataclasses import replace

    from feeds import sensors
    from feeds.live_queries import city_pack

    sites = [replace(s, interval_s=seconds) for s in city_pack(rt).sensors if s.kind in ("detector", "air")]
    sensors.register_sites(rt, sites)


def post_observations(app: LiveApp, obs: list[dict[str, Any]]) -> str:
    """Through ``POST /api/v1/observations`` when that route exists, else `feeds.ingest.ingest`.

    Returns which way it went, so a test can say so.
    """
    import requests

    r = requests.post(app.url + "/api/v1/observations", json={"observations": obs},
                      headers={"X-API-Key": app.api_key}, timeout=10)
    if r.status_code != 404:
        assert r.status_code < 300, r.text
        return "api"
    from feeds import ingest

    ingest.ingest(app.rt, obs, source="browser-test")
    return "ingest()"


def fill_command_form(page: Any, type_: str, params: dict[str, Any], tz: str = "Asia/Seoul") -> None:
    """Type a command's parameters into the Commands page form, as an operator would: the form
    opens blank (nothing safety-relevant is pre-filled), so every test fills what it proposes.
    Dropdowns and inputs are set through Dash's own `set_props`, the same path a user's change
    takes to the callbacks."""
    import json as _json

    from actuation.forms import to_form

    for name, value in to_form(type_, params, tz).items():
        if value in ("", [], None):
            continue
        page.evaluate("([id, v]) => window.dash_clientside.set_props(id, "
                      "{value: v})", [_json.loads(_json.dumps({"type": "cmd-field", "index": name})),
                                      (["yes"] if value else []) if isinstance(value, bool) else value])
