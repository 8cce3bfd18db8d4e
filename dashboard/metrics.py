"""Prometheus ``/metrics`` at the server root, one registry per app (never the global one).

The figures are read from Redis at scrape time, so every web process reports the same totals
whatever process ingested the values (the simulator thread, another web process, a worker):
- ``cityops_ingest_values_total{source, outcome}``: values through QA by outcome
  (accepted, i.e. unflagged | flagged | quarantined | rejected) and source (http, simulator, replay, ...);
- ``cityops_feed_last_data_timestamp_seconds{domain}``: when each live domain last got data;
- ``cityops_rollup_pending_entries{domain}``: entries the rollup workers hold unacknowledged;
- ``cityops_redis_up``: 0 when Redis could not be read (the other figures are then missing).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import ResponseError

from feeds.ingest import ingest_counts
from feeds.worker import DOMAINS as ROLLUP_DOMAINS
from feeds.worker import GROUP as ROLLUP_GROUP
from store.runtime import Runtime

log = logging.getLogger(__name__)


class IngestCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("cityops_redis_up", "1 when Redis answered this scrape")
        try:
            counts = ingest_counts(self.rt)
            feeds = self.rt.redis.feed_times()
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Redis is gone
            log.warning("metrics: Redis unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        values = CounterMetricFamily("cityops_ingest_values", "Values through QA, by outcome and source",
                                     labels=["source", "outcome"])
        for (source, outcome), n in sorted(counts.items()):
            values.add_metric([source, outcome], n)
        yield values
        last = GaugeMetricFamily("cityops_feed_last_data_timestamp_seconds", "Unix time of the last data per live domain",
                                 labels=["domain"])
        for domain, at in sorted(feeds.items()):
            last.add_metric([domain], at)
        yield last
        pending = GaugeMetricFamily("cityops_rollup_pending_entries",
                                    "Stream entries read by the rollup group but not yet acknowledged", labels=["domain"])
        for domain in ROLLUP_DOMAINS:
            try:
                pending.add_metric([domain], self.rt.redis.pending_count(domain, ROLLUP_GROUP))
            except ResponseError:  # no group yet: no worker has started
                continue
            except Exception as exc:  # noqa: BLE001 - partial figures beat a failed scrape
                log.warning("metrics: pending count of %s: %s", domain, exc)
        yield pending


def install(server: Flask, rt: Runtime) -> CollectorRegistry:
    """Add ``GET /metrics`` to `server` with a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IngestCollector(rt))
    server.extensions["cityops_metrics"] = registry

    @server.get("/metrics")
    def metrics() -> Any:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return registry
