"""WSGI entry for production web processes: ``gunicorn -w 1 --threads 64 dashboard.wsgi:app``.

One worker with threads per process (Flask-SocketIO in threading mode, see STACK.md); run
several such processes behind a load balancer with sticky sessions, the same
``CITYOPS_SECRET_KEY`` and ``CITYOPS_REDIS_URL`` (the Socket.IO message queue). Background
services run in their own processes (`cityops worker`, `cityops scheduler`, `cityops dispatcher`).
"""
from __future__ import annotations

import logging

from dashboard.app import create_app
from store.runtime import Runtime
from store.settings import Settings

_settings = Settings()
logging.basicConfig(level=_settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
web = create_app(Runtime.start(_settings))
app = web.server
