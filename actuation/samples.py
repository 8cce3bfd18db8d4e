"""A valid example of each command type, starting at `now`: the forms' starting values, and what
tests and the benchmark propose."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def example_params(type_: str, now: datetime) -> dict[str, Any]:
    later = (now + timedelta(hours=2)).isoformat()
    start = now.isoformat()
    examples: dict[str, dict[str, Any]] = {
        "bus_reroute": {"route": "R-143", "avoid_links": ["L-0102", "L-0103"], "detour": ["L-0201", "L-0202", "L-0203"],
                        "start": start, "end": later, "reason": "water main repair on Jong-ro"},
        "emergency_alert": {
            "event": "Flash flood", "category": ["Met"], "urgency": "Immediate", "severity": "Severe",
            "certainty": "Observed", "response_type": ["Evacuate"],
            "headline_ko": "청계천 범람 경보", "headline_en": "Cheonggyecheon flood warning",
            "description_ko": "청계천 수위가 위험 수준을 넘었습니다.", "description_en": "The Cheonggyecheon has risen above the danger level.",
            "instruction_ko": "하천변에서 즉시 대피하십시오.", "instruction_en": "Leave the stream banks now.",
            "districts": ["Jongno-gu", "Jung-gu"], "effective": start, "expires": later,
            "channels": ["cell_broadcast", "app_push", "smart_pole_speaker", "roadside_display", "wall_display"]},
        "lighting_schedule": {"districts": ["Mapo-gu"], "profile": [{"at": "00:00", "level_pct": 40},
                                                                     {"at": "05:30", "level_pct": 70},
                                                                     {"at": "18:00", "level_pct": 100}]},
        "signal_timing": {"intersection": "X-1207", "plan": {"cycle_s": 120, "green_s": {"ns": 62, "ew": 50}, "lost_s_per_phase": 4},
                          "duration_minutes": 90, "revert": True},
        "bridge_closure": {"bridge": "Seongsu Bridge", "direction": "northbound", "start": start, "end": later,
                           "detour": "Yeongdong Bridge"},
        "gas_shutoff": {"zone": "Jongno-gu", "reason": "gas leak reported at Gwanghwamun"},
    }
    return examples[type_]


TIME_FIELDS = {"bus_reroute": ("start", "end"), "emergency_alert": ("effective", "expires"),
               "bridge_closure": ("start", "end")}


def blank_params(type_: str, now: datetime) -> dict[str, Any]:
    """What a new command form starts from: only its time window (now → two hours on).

    Never the examples above: a form that opens already holding an evacuation message, a
    district's gas shut-off or a bridge closure is one careless click from going out. Everything
    that says what, where and why is typed or chosen by the operator.
    """
    start, end = TIME_FIELDS.get(type_, (None, None))
    if start is None:
        return {}
    return {start: now.isoformat(), end: (now + timedelta(hours=2)).isoformat()}


def params_from_alert(type_: str, now: datetime, *, alert_id: int, district: str | None, what: str) -> dict[str, Any]:
    """A blank form aimed at an alert: its district where the type takes one (the area of an
    emergency alert, the districts of a lighting override, a gas shut-off's zone) and a reason
    naming the alert, so the operator starts from the place and the cause, and writes the rest."""
    params = blank_params(type_, now)
    if district:
        if type_ in ("emergency_alert", "lighting_schedule"):
            params["districts"] = [district]
        if type_ == "gas_shutoff":
            params["zone"] = district
    if type_ in ("bus_reroute", "gas_shutoff"):
        params["reason"] = f"alert {alert_id}: {what}"[:500]
    return params
