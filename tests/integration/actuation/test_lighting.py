"""Lighting schedules live in the persistent job store: they survive a restart, and an override
ends by itself at its end time."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from actuation import lighting
from actuation.samples import example_params
from store.models.actuation import LightingLevelRow
from store.runtime import Runtime


def level(rt: Runtime, district: str) -> tuple[int, str] | None:
    with rt.session() as s:
        row = s.get(LightingLevelRow, district)
        return None if row is None else (row.level_pct, row.source)


def test_profile_jobs_survive_a_restart_and_reapplying_does_not_add_more(rt: Runtime) -> None:
    params = example_params("lighting_schedule", rt.clock.now())
    lighting.apply(rt, 7, params)
    lighting.apply(rt, 7, params)  # a retried dispatch

    restarted = lighting.make_scheduler(rt)
    try:
        jobs = sorted(j.id for j in restarted.get_jobs())
    finally:
        restarted.shutdown(wait=False)

    assert jobs == ["light-7-Mapo-gu-0", "light-7-Mapo-gu-1", "light-7-Mapo-gu-2"]


def test_override_ends_by_itself_after_a_restart(rt: Runtime) -> None:
    end = datetime.now(UTC) + timedelta(seconds=1.5)
    lighting.apply(rt, 9, {"districts": ["Jung-gu"], "override": {"level_pct": 20, "end": end.isoformat()}})
    assert level(rt, "Jung-gu") == (20, "override")

    sched = lighting.make_scheduler(rt)  # a scheduler process started after the command was carried out
    try:
        deadline = time.monotonic() + 10
        while level(rt, "Jung-gu") != (100, "profile") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        sched.shutdown(wait=False)

    assert level(rt, "Jung-gu") == (100, "profile")


def test_profile_level_wraps_around_midnight() -> None:
    profile = [{"at": "05:30", "level_pct": 70}, {"at": "18:00", "level_pct": 100}, {"at": "23:00", "level_pct": 40}]

    assert lighting.profile_level(profile, datetime(2026, 1, 1, 2, 0).time()) == 40
    assert lighting.profile_level(profile, datetime(2026, 1, 1, 12, 0).time()) == 70
