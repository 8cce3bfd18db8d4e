"""Live push: Redis delta channels → Socket.IO rooms → the pages that show them.

Workers coalesce what changed and publish a delta per domain at most every 0.5 s
(`store.redis_store.DeltaCoalescer`). Each web process runs one `Relay` thread: it subscribes to
the delta channels, turns each delta into the small wire form the browser draws
(`feeds.live_queries.wire_delta`) and emits it as event ``delta-<domain>`` to the room of that
domain. A page declares the rooms it shows (``live=(...)`` in its `register_page`); when the page
changes or the socket reconnects, `join_rooms` moves the socket into exactly those rooms.

Several web processes each relay to their own sockets (``ignore_queue=True``): the deltas
already reach every process through Redis, so going through the Socket.IO message queue as well
would deliver each one N times. The Redis subscription is re-made after any failure, so a Redis
restart costs a few seconds of updates, never the relay.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis
from dash import Dash, Input, Output, page_registry
from flask import session
from flask_socketio import SocketIO

from dashboard import roles
from dashboard.auth import requires
from feeds.live_queries import LIVE_DOMAINS, wire_delta
from store.errors import Unavailable
from store.runtime import Runtime

log = logging.getLogger(__name__)

SOCKET_ID = "live-socket"
ROOMS_STORE = "live-rooms"
EVENTS = tuple(f"delta-{d}" for d in LIVE_DOMAINS)
CHIME_ROLES = roles.CONSOLE  # the roles whose shell joins ``alerts`` and chimes (never the wall)
NAMESPACE = "/"


def room(domain: str) -> str:
    return f"live:{domain}"


class Relay:
    """One thread per web process relaying Redis deltas to Socket.IO rooms."""

    def __init__(self, rt: Runtime, socketio: SocketIO, domains: tuple[str, ...] = LIVE_DOMAINS) -> None:
        self.rt = rt
        self.socketio = socketio
        self.domains = domains
        self.stop = threading.Event()
        self.relayed = 0
        self._thread: threading.Thread | None = None
        self._flusher: threading.Thread | None = None

    def start(self) -> Relay:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self.run, name="live-relay", daemon=True)
            self._thread.start()
            # This process's ingest route adds to the runtime's coalescer: publish it from here too
            # (in `cityops run` the delta-publisher service also flushes it; a flush takes each
            # change once, so two flushers never double a delta).
            self._flusher = threading.Thread(target=self.rt.coalescer.run_forever, args=(self.stop,),
                                             name="live-flush", daemon=True)
            self._flusher.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for thread in (self._thread, self._flusher):
            if thread is not None:
                thread.join(timeout=3)

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                ps = self.rt.redis.subscribe(self.domains)
                backoff = 0.5
                try:
                    self._pump(ps)
                finally:
                    try:
                        ps.close()
                    except Exception:  # noqa: BLE001 - closing a dead connection
                        pass
            except (redis.ConnectionError, redis.TimeoutError, Unavailable, OSError) as exc:
                log.warning("live relay lost Redis (%s); retrying in %.1f s", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _pump(self, ps: Any) -> None:
        while not self.stop.is_set():
            msg = ps.get_message(timeout=0.5)
            if not msg or msg.get("type") != "message":
                continue
            domain = self.rt.redis.domain_of_channel(msg["channel"])
            try:
                payload = json.loads(msg["data"])
            except (TypeError, ValueError):
                log.warning("live relay: unreadable delta on %s", msg["channel"])
                continue
            try:
                self.emit(domain, payload)
            except Exception:  # noqa: BLE001 - one bad delta must not stop the wall's updates
                log.exception("live relay: could not relay a %s delta", domain)

    def emit(self, domain: str, payload: dict[str, Any]) -> None:
        self.socketio.server.emit(f"delta-{domain}", wire_delta(domain, payload), to=room(domain),
                                  namespace=NAMESPACE, ignore_queue=True)
        self.relayed += 1


def page_rooms(pathname: str | None) -> tuple[str, ...]:
    """The live domains the page at `pathname` shows (its ``live=`` registration)."""
    for page in page_registry.values():
        if pathname and page["path"].rstrip("/") == pathname.rstrip("/"):
            return tuple(page.get("live", ()))
    return ()


def rooms_for(role: str | None, pathname: str | None) -> tuple[str, ...]:
    """The page's rooms, plus ``alerts`` on every console page: the shell chimes there for a new
    critical alert whatever page the operator is on. The wall's kiosk joins only its page's rooms
    (it shows the alert counts, and never chimes)."""
    wanted = page_rooms(pathname)
    if role in CHIME_ROLES and "alerts" not in wanted:
        wanted += ("alerts",)
    return wanted


def install(app: Dash, socketio: SocketIO) -> None:
    """Socket.IO handlers and the callback that puts a page's socket into its rooms."""

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> bool:
        # Only signed-in users with a live view get a socket; the cookie is the same session.
        ok = roles.allowed(session.get("role"), "view.live")
        if not ok:
            log.info("refused an anonymous or unauthorised socket")
        return ok

    @app.callback(Output(ROOMS_STORE, "data"), Input(SOCKET_ID, "socketId"), Input("_pages_location", "pathname"))
    @requires("view.live")
    def join_rooms(socket_id: str | None, pathname: str | None) -> list[str]:
        """Leave every live room and join the current page's ones (runs again after a reconnect)."""
        if not socket_id:
            return []
        wanted = rooms_for(session.get("role"), pathname)
        server = socketio.server
        for domain in LIVE_DOMAINS:
            if domain not in wanted:
                server.leave_room(socket_id, room(domain), namespace=NAMESPACE)
        for domain in wanted:
            server.enter_room(socket_id, room(domain), namespace=NAMESPACE)
        return list(wanted)
