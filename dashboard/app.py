"""The app factory: the only wiring point. Flask server, the /api/v1 blueprint, health
endpoints, Socket.IO live push and the Dash pages, all on one server, built from one Runtime.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash import Dash
from flask import Flask, jsonify
from flask_socketio import SocketIO

from dashboard.live import Relay
from store.i18n import both
from store.runtime import Runtime

log = logging.getLogger(__name__)


def create_server(rt: Runtime) -> Flask:
    """The Flask server with the REST API and health routes (no pages): what API tests use."""
    server = Flask("cityops")
    server.config.update(
        SECRET_KEY=rt.settings.session_secret(),
        MAX_CONTENT_LENGTH=rt.settings.max_batch_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    server.extensions["cityops"] = rt

    from dashboard.api import build_blueprint

    server.register_blueprint(build_blueprint())

    @server.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @server.get("/readyz")
    def readyz() -> Any:
        status = rt.ready()
        ok = all(v == "ok" for v in status.values())
        return jsonify({"status": "ready" if ok else "not ready", **status}), 200 if ok else 503

    from dashboard import metrics

    metrics.install(server, rt)  # GET /metrics, a Prometheus registry of this app's own
    return server


ASSETS = Path(__file__).resolve().parent.parent / "assets"
# Page modules, each with `register(app)` (register_page + its callbacks). Missing ones are
# skipped, so the shell runs before every page exists.
PAGE_MODULES = ("panels.wall", "panels.traffic", "panels.air", "panels.alerts", "panels.commands",
                "panels.approvals", "panels.reports")


@dataclass
class WebApp:
    """Everything the web tier is made of, built from one Runtime."""

    server: Flask
    socketio: SocketIO
    dash: Dash
    relay: Relay | None

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()


def create_app(rt: Runtime, *, start_relay: bool = True) -> WebApp:
    """The whole web tier: the API server plus login, Socket.IO live push and the Dash pages.

    Several apps may be built in one process (tests): Dash's page registry is global, so it is
    emptied and refilled here, and every page registers its callbacks on this app only.
    """
    import dash
    from dash import _pages

    from dashboard import auth, geo, live, shell
    from panels import components

    server = create_server(rt)
    server.register_blueprint(geo.geo)
    socketio = SocketIO(server, async_mode="threading", message_queue=rt.settings.redis_url or None,
                        manage_session=False, logger=False, engineio_logger=False)
    _pages.PAGE_REGISTRY.clear()
    app = Dash("cityops", server=server, use_pages=True, pages_folder="", assets_folder=str(ASSETS),
               suppress_callback_exceptions=True, serve_locally=True, update_title=None,
               title=both("app.title"))
    app.enable_dev_tools(debug=False, dev_tools_disable_version_check=True)
    app.layout = shell.root_layout
    shell.register(app)
    components.register(app)
    live.install(app, socketio)
    for name in PAGE_MODULES:
        # A page that fails to load is logged and left out: one broken console page must not
        # take the wall down with it. Its own tests fail loudly.
        try:
            module = importlib.import_module(name)
            register = getattr(module, "register", None)
            if register is not None:
                register(app)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                log.exception("page %s not loaded", name)
        except Exception:  # noqa: BLE001
            log.exception("page %s not loaded", name)
    auth.install(server, rt, lambda: app.callback_map)
    server.extensions["cityops.dash"] = app
    server.extensions["cityops.socketio"] = socketio
    relay = live.Relay(rt, socketio).start() if start_relay else None
    log.info("web app ready: pages %s", ", ".join(p["path"] for p in dash.page_registry.values()))
    return WebApp(server, socketio, app, relay)
