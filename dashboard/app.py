"""The app factory: the only wiring point. Flask server, the /api/v1 blueprint, health
endpoints, Socket.IO live push and the Dash pages, all on one server, built from one Runtime.
"""
from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, jsonify

from store.runtime import Runtime

log = logging.getLogger(__name__)


def create_server(rt: Runtime) -> Flask:
    """The Flask server with the REST API and health routes (no pages): what API tests use."""
    server = Flask("cityops")
    server.config.update(
        SECRET_KEY=rt.settings.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=rt.settings.max_batch_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    server.extensions["cityops"] = rt

    from dashboard import api as api_pkg
    from dashboard.api import load_route_modules

    load_route_modules()
    server.register_blueprint(api_pkg.api)

    @server.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @server.get("/readyz")
    def readyz() -> Any:
        status = rt.ready()
        ok = all(v == "ok" for v in status.values())
        return jsonify({"status": "ready" if ok else "not ready", **status}), 200 if ok else 503

    return server
