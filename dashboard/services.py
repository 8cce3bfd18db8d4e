"""The background parts of CityOps and which process runs them.

Each service is a function ``(rt, stop) -> None`` that runs until `stop` is set. `cityops run`
starts every service in one process; `cityops worker`, `cityops simulate`, `cityops scheduler`
and `cityops dispatcher` start their own group against real Redis and PostgreSQL. A service is
one row here, named by "module:function" so that a worker process never imports the pages.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from store.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    name: str
    target: str  # "package.module:function"
    groups: frozenset[str]  # which commands start it: run, worker, simulate, scheduler, dispatcher
    when: Callable[[Runtime], bool] = lambda rt: True


SERVICES: tuple[Service, ...] = (
    Service("delta-publisher", "feeds.worker:run_delta_publisher", frozenset({"run", "worker"})),
    Service("ingest-worker", "feeds.worker:run_worker", frozenset({"run", "worker"})),
    Service("alert-worker", "alerts.worker:run_alert_worker", frozenset({"run", "worker"})),
    Service("alert-escalation", "alerts.escalation:run_escalation", frozenset({"run", "scheduler"})),
    Service("simulator", "feeds.simulator:run_simulator", frozenset({"run", "simulate"}),
            when=lambda rt: rt.settings.simulator == "on"),
    Service("approval-expiry", "actuation.service:run_expiry", frozenset({"run", "scheduler"})),
    Service("lighting-scheduler", "actuation.lighting:run_scheduler", frozenset({"run", "scheduler"})),
    Service("command-dispatcher", "actuation.dispatcher:run_dispatcher", frozenset({"run", "dispatcher"})),
)


def _resolve(target: str) -> Callable[[Runtime, threading.Event], None]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def start(rt: Runtime, group: str, stop: threading.Event) -> list[threading.Thread]:
    """Start every service of `group` in its own daemon thread; a crash is logged and restarted."""
    threads = []
    for svc in SERVICES:
        if group not in svc.groups or not svc.when(rt):
            continue
        try:
            fn = _resolve(svc.target)
        except (ModuleNotFoundError, AttributeError) as exc:
            log.error("service %s not available: %s", svc.name, exc)
            continue

        def supervise(fn: Callable[[Runtime, threading.Event], None] = fn, name: str = svc.name) -> None:
            while not stop.is_set():
                try:
                    fn(rt, stop)
                except Exception:
                    log.exception("service %s crashed; restarting in 2 s", name)
                    stop.wait(2)
                else:
                    return

        t = threading.Thread(target=supervise, name=svc.name, daemon=True)
        t.start()
        threads.append(t)
        log.info("started %s", svc.name)
    return threads


def wait_forever(stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
