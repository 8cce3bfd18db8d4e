"""Simulated field systems: bus operators' terminals, CAP alert channels, street-lighting
controllers, signal controllers, bridge barriers, gas valves.

Each behaves like a remote system: a network latency drawn from a realistic range, injectable
failures (a refused call before it acts, or a lost reply after it acted), and idempotency keyed
by the caller's key: the system keeps its own ledger (table `field_ledger`), so a repeated call
— a retry, or a second dispatcher after a crash — returns the first result and never acts twice.

The emergency-alert system models delivery per channel and the share of the area's population
reached over time (district populations from the city pack), so the seed's target — 98 % within
90 s — can be checked on every alert. These are models, not measurements of a real network.
"""
from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from store.errors import CityOpsError
from store.models.actuation import FieldLedgerRow
from store.runtime import Runtime

log = logging.getLogger(__name__)

SYSTEM_OF_TYPE = {
    "bus_reroute": "bus_terminals", "emergency_alert": "cap_channels", "lighting_schedule": "lighting",
    "signal_timing": "signals", "bridge_closure": "bridge_barriers", "gas_shutoff": "gas_valves",
}
# (min, max) seconds of one call's round trip, as seen on control networks of this kind.
LATENCY_S: dict[str, tuple[float, float]] = {
    "bus_terminals": (0.03, 0.15), "cap_channels": (0.05, 0.25), "lighting": (0.02, 0.10),
    "signals": (0.02, 0.08), "bridge_barriers": (0.05, 0.20), "gas_valves": (0.05, 0.20),
}
# Per alert channel: (seconds until first delivery, seconds to ramp, share of population it can reach).
CHANNEL_MODEL: dict[str, tuple[float, float, float]] = {
    "cell_broadcast": (4.0, 25.0, 0.96),
    "app_push": (6.0, 40.0, 0.55),
    "smart_pole_speaker": (2.0, 10.0, 0.20),
    "roadside_display": (3.0, 15.0, 0.10),
    "wall_display": (1.0, 2.0, 0.01),
}
TARGET_SHARE, TARGET_S = 0.98, 90


class AdapterError(CityOpsError):
    """A field system did not confirm the command (timeout, refusal); the dispatcher retries."""

    key = "adapter_failed"
    status = 502


@dataclass
class Faults:
    """Injectable failures: a share of calls refused, a share whose reply is lost after acting,
    `fail_next` calls refused outright, and alert channels that fail."""

    refuse_rate: float = 0.0
    lost_reply_rate: float = 0.0
    fail_next: int = 0
    failed_channels: frozenset[str] = frozenset()
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_forced(self) -> bool:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False


def reach_curve(population: int, channels: list[str], failed: frozenset[str] = frozenset(),
                horizon_s: int = 120, step_s: int = 5) -> dict[str, Any]:
    """Share of the population reached over time when `channels` are used (independent channels).

    Pure: a logistic ramp per channel after its first delivery; a failed channel reaches nobody.
    """
    def share(ch: str, t: float) -> float:
        delay, ramp, ceiling = CHANNEL_MODEL[ch]
        if ch in failed or t < delay:
            return 0.0
        x = (t - delay) / ramp
        return ceiling * (1 - math.exp(-3 * x))

    curve = []
    reached_at = None
    for t in range(0, horizon_s + 1, step_s):
        missed = 1.0
        for ch in channels:
            missed *= 1 - share(ch, t)
        s = round(1 - missed, 4)
        curve.append([t, s])
        if reached_at is None and s >= TARGET_SHARE:
            reached_at = t
    channels_report = {ch: {"status": "failed" if ch in failed else "delivered",
                            "first_delivery_s": None if ch in failed else CHANNEL_MODEL[ch][0],
                            "reach_share": 0.0 if ch in failed else round(share(ch, horizon_s), 4)} for ch in channels}
    final = curve[-1][1] if curve else 0.0
    return {"population": population, "channels": channels_report, "reach_curve": curve,
            "reached_people": int(population * final), "reached_98_at_s": reached_at,
            "target_met": reached_at is not None and reached_at <= TARGET_S}


def alert_population(params: dict[str, Any]) -> int:
    """People in the alert's area: its districts, or the districts whose centre lies in its polygon."""
    from feeds.citypack import seoul_districts

    names = set(params.get("districts") or [])
    ring = params.get("polygon")
    total = 0
    for d in seoul_districts():
        if d.name_en in names or (ring and _inside(d.centroid, ring)):
            total += d.population
    return total


def _inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    lat, lon = point
    inside = False
    for (la1, lo1), (la2, lo2) in zip(ring, ring[1:], strict=False):
        if (lo1 > lon) != (lo2 > lon) and lat < (la2 - la1) * (lon - lo1) / (lo2 - lo1) + la1:
            inside = not inside
    return inside


Executor = Callable[[Runtime, str, dict[str, Any], Faults], dict[str, Any]]


def _execute_alert(rt: Runtime, key: str, payload: dict[str, Any], faults: Faults) -> dict[str, Any]:
    params = payload["params"]
    report = reach_curve(alert_population(params), list(params["channels"]), faults.failed_channels)
    report["cap_bytes"] = len((payload.get("cap_xml") or "").encode())
    return report


def _execute_lighting(rt: Runtime, key: str, payload: dict[str, Any], faults: Faults) -> dict[str, Any]:
    from actuation import lighting

    return lighting.apply(rt, payload["command_id"], payload["params"])


def _execute_signals(rt: Runtime, key: str, payload: dict[str, Any], faults: Faults) -> dict[str, Any]:
    from actuation import lighting

    return lighting.schedule_signal_revert(rt, payload["command_id"], payload["params"])


def _execute_bus(rt: Runtime, key: str, payload: dict[str, Any], faults: Faults) -> dict[str, Any]:
    from actuation import gtfs

    size = len(gtfs.to_bytes(payload["gtfs_rt"]))
    return {"terminals_acknowledged": True, "feed_bytes": size, "route": payload["params"]["route"]}


def _execute_simple(rt: Runtime, key: str, payload: dict[str, Any], faults: Faults) -> dict[str, Any]:
    p = payload["params"]
    target = p.get("bridge") or p.get("zone")
    return {"confirmed": True, "target": target}


EXECUTORS: dict[str, Executor] = {
    "cap_channels": _execute_alert, "lighting": _execute_lighting, "signals": _execute_signals,
    "bus_terminals": _execute_bus, "bridge_barriers": _execute_simple, "gas_valves": _execute_simple,
}


class SimulatedFieldSystem:
    """One field system. `send(key, payload)` acts at most once per key and returns its report."""

    def __init__(self, rt: Runtime, system: str, *, latency: tuple[float, float] | None = None,
                 faults: Faults | None = None, seed: int | None = None) -> None:
        self.rt, self.system = rt, system
        self.latency = LATENCY_S[system] if latency is None else latency
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.calls = 0

    def send(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        lo, hi = self.latency
        if hi > 0:
            time.sleep(self.rng.uniform(lo, hi))
        if self.faults.take_forced() or self.rng.random() < self.faults.refuse_rate:
            raise AdapterError(f"{self.system}: no confirmation (timeout)")
        # Reserve the key first: of two callers with one key, exactly one gets to act.
        try:
            with self.rt.session() as s:
                s.add(FieldLedgerRow(idempotency_key=key, system=self.system, received_at=self.rt.clock.now(),
                                     result={"in_progress": True}, calls=1))
        except IntegrityError:
            with self.rt.session() as s:
                known = s.get(FieldLedgerRow, key)
                assert known is not None
                known.calls += 1
                if known.result.get("in_progress"):
                    raise AdapterError(f"{self.system}: still carrying out {key}") from None
                return {**known.result, "replayed": True}
        try:
            result = EXECUTORS[self.system](self.rt, key, payload, self.faults)
        except Exception:
            with self.rt.session() as s:  # it did not act: free the key for the retry
                s.delete(s.get(FieldLedgerRow, key))
            raise
        with self.rt.session() as s:
            row = s.get(FieldLedgerRow, key)
            assert row is not None
            row.result = result
        if self.rng.random() < self.faults.lost_reply_rate:
            raise AdapterError(f"{self.system}: reply lost after acting")
        return result


def default_adapters(rt: Runtime, *, latency: tuple[float, float] | None = None, faults: Faults | None = None,
                     seed: int | None = None) -> dict[str, SimulatedFieldSystem]:
    """One simulated system per command type (the same Faults shared, so a test can inject into all)."""
    faults = faults or Faults()
    systems = {name: SimulatedFieldSystem(rt, name, latency=latency, faults=faults, seed=seed) for name in set(SYSTEM_OF_TYPE.values())}
    return {type_: systems[name] for type_, name in SYSTEM_OF_TYPE.items()}
