"""Serve the web tier: pages, REST API and Socket.IO on CITYOPS_HOST:CITYOPS_PORT.

Werkzeug's threaded server through Flask-SocketIO (``async_mode="threading"`` with
simple-websocket). Production: gunicorn with one worker and threads per process (``-w 1
--threads N``, see STACK.md); several web processes need sticky sessions and ``CITYOPS_REDIS_URL``
(the Socket.IO message queue).
"""
from __future__ import annotations

import threading

from store.runtime import Runtime


def serve(rt: Runtime, stop: threading.Event) -> None:
    from dashboard.app import create_app

    web = create_app(rt)
    try:
        web.socketio.run(web.server, host=rt.settings.host, port=rt.settings.port, use_reloader=False,
                         log_output=False, allow_unsafe_werkzeug=True)
    finally:
        web.close()
        stop.set()
