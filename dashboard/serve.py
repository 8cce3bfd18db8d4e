"""Serve the web tier: the app factory's server on CITYOPS_HOST:CITYOPS_PORT."""
from __future__ import annotations

import threading

from store.runtime import Runtime


def serve(rt: Runtime, stop: threading.Event) -> None:
    from dashboard.app import create_server

    server = create_server(rt)
    server.run(host=rt.settings.host, port=rt.settings.port, threaded=True, use_reloader=False)
    stop.set()
