"""Alert routes: list and read alerts, act on them, incidents, precision, camera analytics in.

Who may call what:
- reading (``GET /alerts``, ``/alerts/{id}``, ``/alerts/summary``, ``/alerts/precision``,
  ``/incidents``): permission ``view.live`` (the wall reads its banner here too);
- acting (ack, assign, comment, resolve; incidents: open, name, resolve): ``alerts.act``
  (operators, supervisors, shift leads; never the wall or admin). Dismissing a critical alert as
  a false positive needs a supervisor (`alerts.model`);
- ``POST /cctv/events``: an API key (the camera analytics system), like observations.

A second acknowledgement or resolution is a 409 saying who did it first.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import jsonify, request, session
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alerts import queries, service
from alerts.const import CATEGORIES, CCTV_CATEGORIES, SEVERITIES, STATES, VERDICTS
from alerts.model import Actor
from dashboard.api import endpoint, parse_body, require, runtime
from store import accounts
from store.errors import TooLarge, Unavailable, ValidationError

log = logging.getLogger(__name__)
MAX_EVENTS = 10_000


class AlertOut(BaseModel):
    id: int
    state: str = Field(description=f"one of {', '.join(STATES)}")
    category: str
    severity: str = Field(description=f"one of {', '.join(SEVERITIES)}")
    district: str | None
    count: int = Field(description="events folded into this alert")
    first_seen: str
    last_seen: str
    opened_at: str
    rule: str
    source: str
    place: str
    lat: float | None
    lon: float | None
    assignee: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    verdict: str | None
    incident_id: int | None
    escalated_at: str | None
    reminders: int
    detail: dict[str, Any]


class AlertList(BaseModel):
    alerts: list[AlertOut]


class HistoryOut(BaseModel):
    at: str
    actor: str
    kind: str
    payload: dict[str, Any]


class CommentOut(BaseModel):
    at: str
    author: str
    text: str


class CausedCommandOut(BaseModel):
    id: int
    type: str
    state: str
    proposer: str
    created_at: str | None


class AlertDetailOut(AlertOut):
    history: list[HistoryOut]
    commands: list[CausedCommandOut]
    comments: list[CommentOut]


class AckIn(BaseModel):
    comment: str | None = Field(None, max_length=2000)


class AssignIn(BaseModel):
    assignee: str = Field(min_length=1, max_length=80)


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ResolveIn(BaseModel):
    verdict: str = Field(description=f"one of {', '.join(VERDICTS)}", examples=["true_positive"])
    comment: str | None = Field(None, max_length=2000)


class PrecisionRow(BaseModel):
    category: str
    true_positives: int
    false_positives: int
    judged: int
    precision: float | None


class PrecisionOut(BaseModel):
    days: float
    categories: list[PrecisionRow]


class SummaryOut(BaseModel):
    unacknowledged: int
    oldest_age_s: float | None
    by_severity: dict[str, int]
    escalated: list[dict[str, Any]]


class IncidentOut(BaseModel):
    id: int
    name: str | None
    state: str
    family: str | None
    district: str | None
    lat: float | None
    lon: float | None
    opened_at: str
    opened_by: str
    last_seen: str
    resolved_at: str | None
    resolved_by: str | None
    verdict: str | None
    alert_ids: list[int]


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


class IncidentIn(BaseModel):
    alert_ids: list[int] = Field(min_length=1, max_length=500)
    name: str | None = Field(None, max_length=200)


class NameIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class CctvEventIn(BaseModel):
    camera_id: str = Field(min_length=1, max_length=80)
    category: str = Field(description=f"one of {', '.join(CCTV_CATEGORIES)}")
    confidence: float = Field(ge=0, le=1)
    time: datetime = Field(description="ISO 8601 with a UTC offset")
    district: str | None = Field(None, max_length=40)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class CctvBatch(BaseModel):
    events: list[CctvEventIn] = Field(max_length=MAX_EVENTS)


class CctvOut(BaseModel):
    accepted: int


def _actor() -> Actor:
    name = require("alerts.act")
    return Actor(name, session["role"])


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _since() -> datetime | None:
    raw = request.args.get("since")
    if not raw:
        return None
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError("since must be an ISO 8601 time with a UTC offset") from None
    if t.tzinfo is None:
        raise ValidationError("since needs a UTC offset (e.g. 2026-11-26T03:00:00Z)")
    return t


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        raise ValidationError(f"{name} must be an integer") from None


_FILTERS = [
    {"name": "state", "in": "query", "schema": {"type": "string", "enum": [*STATES, "unresolved"]}},
    {"name": "district", "in": "query", "schema": {"type": "string"}},
    {"name": "severity", "in": "query", "schema": {"type": "string", "enum": list(SEVERITIES)}},
    {"name": "category", "in": "query", "schema": {"type": "string", "enum": list(CATEGORIES)}},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "last seen at or after"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 500, "maximum": queries.MAX_LIST}},
]


@endpoint("/alerts", summary="Alerts, newest activity first, with filters", tag="alerts", response=AlertList,
          permission="view.live", params=_FILTERS, responses={400: "bad filter"})
def list_alerts() -> Any:
    require("view.live")
    f = queries.AlertFilter(state=_choice("state", (*STATES, "unresolved")), district=request.args.get("district") or None,
                            severity=_choice("severity", SEVERITIES), category=_choice("category", CATEGORIES),
                            since=_since(), limit=_int_arg("limit", 500))
    return jsonify({"alerts": queries.list_alerts(runtime(), f)})


@endpoint("/alerts/summary", summary="The wall's banner: unacknowledged count, oldest age, escalated alerts",
          tag="alerts", response=SummaryOut, permission="view.live")
def alerts_summary() -> Any:
    require("view.live")
    return jsonify(queries.wall_banner(runtime()).to_json())


@endpoint("/alerts/precision", summary="Precision per category from operators' verdicts", tag="alerts",
          response=PrecisionOut, permission="view.live", responses={400: "days out of range"},
          params=[{"name": "days", "in": "query", "schema": {"type": "number", "default": 7}}])
def alerts_precision() -> Any:
    require("view.live")
    try:
        days = float(request.args.get("days", 7))
    except ValueError:
        raise ValidationError("days must be a number") from None
    rows = queries.precision_by_category(runtime(), days)
    return jsonify({"days": days, "categories": [p.to_json() for p in rows]})


@endpoint("/alerts/<int:alert_id>", summary="One alert with its history, comments and the commands proposed from it", tag="alerts",
          response=AlertDetailOut, permission="view.live", responses={404: "no such alert"})
def get_alert(alert_id: int) -> Any:
    require("view.live")
    return jsonify(queries.alert_detail(runtime(), alert_id))


_ACT = {404: "no such alert", 409: "already acknowledged / resolved"}


@endpoint("/alerts/<int:alert_id>/ack", "POST", summary="Acknowledge an alert (optionally with a comment)",
          tag="alerts", body=AckIn, response=AlertOut, permission="alerts.act", responses=_ACT)
def ack_alert(alert_id: int) -> Any:
    actor = _actor()
    body: AckIn = parse_body(AckIn) if request.get_data() else AckIn()
    return jsonify(service.acknowledge(runtime(), alert_id, actor, body.comment))


@endpoint("/alerts/<int:alert_id>/assign", "POST", summary="Assign an alert to a user", tag="alerts",
          body=AssignIn, response=AlertOut, permission="alerts.act", responses=_ACT)
def assign_alert(alert_id: int) -> Any:
    actor = _actor()
    body: AssignIn = parse_body(AssignIn)
    return jsonify(service.assign(runtime(), alert_id, actor, body.assignee))


@endpoint("/alerts/<int:alert_id>/comment", "POST", summary="Comment on an alert", tag="alerts",
          body=CommentIn, response=AlertOut, permission="alerts.act", responses={404: "no such alert"})
def comment_alert(alert_id: int) -> Any:
    actor = _actor()
    body: CommentIn = parse_body(CommentIn)
    return jsonify(service.add_comment(runtime(), alert_id, actor, body.text))


@endpoint("/alerts/<int:alert_id>/resolve", "POST", summary="Resolve an alert with a true/false-positive verdict",
          tag="alerts", body=ResolveIn, response=AlertOut, permission="alerts.act",
          responses={**_ACT, 400: "bad verdict", 403: "a critical false positive needs a supervisor"})
def resolve_alert(alert_id: int) -> Any:
    actor = _actor()
    body: ResolveIn = parse_body(ResolveIn)
    return jsonify(service.resolve(runtime(), alert_id, actor, body.verdict, body.comment))


@endpoint("/incidents", summary="Incidents (related alerts grouped), newest first", tag="alerts",
          response=IncidentList, permission="view.live",
          params=[{"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "resolved"]}}])
def list_incidents() -> Any:
    require("view.live")
    state = _choice("state", ("open", "resolved"))
    return jsonify({"incidents": queries.list_incidents(runtime(), state)})


@endpoint("/incidents", "POST", summary="Open an incident from alerts", tag="alerts", body=IncidentIn,
          response=IncidentOut, permission="alerts.act", responses={404: "no such alert", 409: "an alert is resolved"})
def open_incident() -> Any:
    actor = _actor()
    body: IncidentIn = parse_body(IncidentIn)
    return jsonify(service.open_incident(runtime(), body.alert_ids, actor, body.name)), 201


@endpoint("/incidents/<int:incident_id>/name", "POST", summary="Name an incident", tag="alerts", body=NameIn,
          response=IncidentOut, permission="alerts.act", responses={404: "no such incident"})
def name_incident(incident_id: int) -> Any:
    actor = _actor()
    body: NameIn = parse_body(NameIn)
    return jsonify(service.name_incident(runtime(), incident_id, actor, body.name))


@endpoint("/incidents/<int:incident_id>/resolve", "POST", summary="Resolve an incident and all its alerts with one verdict",
          tag="alerts", body=ResolveIn, response=IncidentOut, permission="alerts.act",
          responses={404: "no such incident", 409: "already resolved"})
def resolve_incident(incident_id: int) -> Any:
    actor = _actor()
    body: ResolveIn = parse_body(ResolveIn)
    return jsonify(service.resolve_incident(runtime(), incident_id, actor, body.verdict, body.comment))


@endpoint("/cctv/events", "POST", summary="Camera analytics events in (metadata only, never video)", tag="alerts",
          body=CctvBatch, response=CctvOut, auth="api_key", responses={400: "malformed events", 413: "too many events"})
def post_cctv_events() -> Any:
    rt = runtime()
    with rt.session() as s:
        accounts.check_api_key(s, request.headers.get("X-API-Key"))
    payload = request.get_json(silent=True)
    if isinstance(payload, dict) and isinstance(payload.get("events"), list) and len(payload["events"]) > MAX_EVENTS:
        raise TooLarge(f"at most {MAX_EVENTS} events per request")
    body: CctvBatch = parse_body(CctvBatch)
    for i, ev in enumerate(body.events):
        if ev.category not in CCTV_CATEGORIES:
            raise ValidationError(f"events[{i}]: unknown category {ev.category!r}; one of {', '.join(CCTV_CATEGORIES)}")
        if ev.time.tzinfo is None:
            raise ValidationError(f"events[{i}]: time needs a UTC offset")
    pipe = rt.redis.client.pipeline(transaction=True)
    for ev in body.events:
        rt.redis.append("cctv", {"event": json.dumps({
            "camera_id": ev.camera_id, "category": ev.category, "confidence": ev.confidence,
            "time": ev.time.astimezone(UTC).isoformat(),
            "district": ev.district, "lat": ev.lat, "lon": ev.lon}, separators=(",", ":"))}, pipe=pipe)
    try:
        pipe.execute()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.error("cctv events not stored: %s", exc)
        raise Unavailable("Redis is unavailable; nothing was stored, retry the batch") from exc
    return jsonify({"accepted": len(body.events)})
