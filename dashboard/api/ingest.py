"""Ingest routes: register sensors, post observations, read a sensor's latest values, review
quarantined values.

Who may call what:
- ``PUT /sensors/{id}``: an API key (``X-API-Key``: a field system registers its own sensors) or
  a signed-in operator, supervisor, shift lead or admin (permission ``sensors.register``). When
  both are sent, the key decides.
- ``POST /observations``: an API key only (field systems; people do not type observations).
- ``GET /sensors/{id}/latest``: open, no credentials (the start of an open-data API).
- ``GET /quarantine`` and ``POST /quarantine/{id}/release``: permission ``quarantine.review``
  (operators and up, admin; not the wall).

A batch of observations is checked for its envelope only (JSON, an ``observations`` list, size):
a problem there is a 400 for the whole batch; a problem with one observation is a rejection in
the answer, with its index, and the others are still stored. With an ``Idempotency-Key`` header a
retried batch is stored once (`feeds.idempotency`). The body is not validated through
pydantic (50,000 observations would take longer to validate than to store); the models below
document it in the OpenAPI file.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
from flask import jsonify, request, session
from pydantic import BaseModel, Field

from dashboard.api import endpoint, parse_body, require, runtime
from feeds import idempotency, quarantine, sensors
from feeds.ingest import ingest
from feeds.qa import QUANTITIES
from store import accounts
from store.errors import NotAuthenticated, TooLarge, ValidationError

log = logging.getLogger(__name__)


class SensorIn(BaseModel):
    kind: str = Field(description=f"one of {', '.join(sensors.DOMAIN_OF_KIND)}", examples=["air"])
    lat: float = Field(ge=-90, le=90, examples=[37.5735])
    lon: float = Field(ge=-180, le=180, examples=[126.9788])
    district: str | None = Field(None, description="for Seoul, the boundary file's name_eng", examples=["Jongno-gu"])
    quantities: dict[str, str] = Field(default_factory=dict, description=f"quantity -> unit; quantities: {', '.join(QUANTITIES)}",
                                       examples=[{"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm"}])
    interval_s: int = Field(120, ge=1, le=86_400, description="seconds between two reports")


class SensorOut(BaseModel):
    id: str
    kind: str
    domain: str
    district: str | None
    quantities: dict[str, str]
    created: bool


class ObservationIn(BaseModel):
    sensor_id: str
    time: datetime = Field(description="ISO 8601 with a UTC offset")
    values: dict[str, float] = Field(description="quantity -> number, in the units the sensor declared")


class ObservationBatch(BaseModel):
    observations: list[ObservationIn]


class RejectionOut(BaseModel):
    index: int
    sensor_id: str | None
    quantity: str | None = Field(description="null: the whole observation was rejected")
    reason: str


class IngestOut(BaseModel):
    observations: int
    accepted: int = Field(description="values accepted, flagged ones included")
    flagged: int = Field(description="accepted values outside 3 sigma of the trailing 24 h")
    quarantined: int = Field(description="values outside plausible bounds, kept for review")
    rejected: int
    rejections: list[RejectionOut]


class LatestOut(BaseModel):
    sensor_id: str
    kind: str
    district: str | None
    time: str | None = Field(description="time of the latest observation (ISO UTC); null before the first")
    values: dict[str, float] = Field(description="latest good value of each quantity")
    qa: dict[str, str] = Field(description="quantity -> ok | flagged | quarantined | released")


class QuarantineItem(BaseModel):
    id: int
    sensor_id: str
    time: str
    quantity: str
    value: float
    reason: str
    received_at: str
    state: str
    released_by: str | None
    released_at: str | None
    release_note: str | None


class QuarantinePage(BaseModel):
    items: list[QuarantineItem]
    total: int


class ReleaseIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="why the value is good after all")


def _api_key_name() -> str:
    rt = runtime()
    with rt.session() as s:
        return accounts.check_api_key(s, request.headers.get("X-API-Key")).name


def _query_param(name: str, kind: type = str) -> Any:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        if kind is datetime:
            t = datetime.fromisoformat(raw)
            if t.tzinfo is None:
                raise ValueError
            return t
        return kind(raw)
    except ValueError:
        raise ValidationError(f"query parameter {name}={raw[:40]!r} is not a valid {kind.__name__}"
                              + (" with a UTC offset" if kind is datetime else "")) from None


@endpoint("/sensors/<sensor_id>", "PUT", summary="Register or update a sensor", tag="ingest", body=SensorIn,
          response=SensorOut, auth="api_key_or_session", permission="sensors.register",
          responses={400: "bad registration (unknown kind, district, quantity or unit)"})
def put_sensor(sensor_id: str) -> Any:
    if request.headers.get("X-API-Key"):
        actor = "apikey:" + _api_key_name()
    elif session.get("username"):
        actor = require("sensors.register")
    else:
        raise NotAuthenticated("send an X-API-Key header, or sign in as an operator or admin")
    body: SensorIn = parse_body(SensorIn)
    spec, created = sensors.register_sensor(runtime(), sensor_id, kind=body.kind, lat=body.lat, lon=body.lon,
                                            district=body.district, quantities=body.quantities,
                                            interval_s=body.interval_s, source=actor[:40])
    out = {"id": spec.id, "kind": spec.kind, "domain": spec.domain, "district": spec.district,
           "quantities": dict(spec.quantities), "created": created}
    return jsonify(out), 201 if created else 200


IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": idempotency.MAX_KEY_LEN},
    "description": ("Optional; a unique value per batch (a UUID). A retry with the same key and the same body is "
                    "answered with the first request's answer and stores nothing again (response header "
                    "Idempotent-Replay: true); the same key with a different body is 409 idempotency_mismatch; "
                    "while the first request is still being stored, 409 idempotency_in_progress (retry shortly). "
                    f"Keys are remembered {idempotency.DONE_TTL_S // 3600} h per API key."),
}


@endpoint("/observations", "POST", summary="Post a batch of observations", tag="ingest", body=ObservationBatch,
          response=IngestOut, auth="api_key", params=[IDEMPOTENCY_PARAM],
          responses={400: "malformed batch (not JSON, no observations list), or a bad Idempotency-Key",
                     409: "Idempotency-Key reused with a different body (idempotency_mismatch), or its first "
                          "request is still being stored (idempotency_in_progress: retry shortly)",
                     413: "more than max_batch_observations or max_batch_bytes",
                     503: "Redis or the database is down: nothing was stored, retry the whole batch (same Idempotency-Key)"})
def post_observations() -> Any:
    rt = runtime()
    key_name = _api_key_name()
    idem = request.headers.get("Idempotency-Key")
    if idem is not None:
        idem = idempotency.check_key(idem)
    limit_bytes = rt.settings.max_batch_bytes
    if request.content_length is not None and request.content_length > limit_bytes:
        raise TooLarge(f"the body is {request.content_length} bytes; at most {limit_bytes} per batch")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH without a length: 413 from Werkzeug
    if len(raw) > limit_bytes:
        raise TooLarge(f"the body is {len(raw)} bytes; at most {limit_bytes} per batch")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not JSON: {exc}") from None
    if type(body) is not dict or type(body.get("observations")) is not list:
        raise ValidationError('the body must be an object {"observations": [...]}')
    batch = body["observations"]
    if not batch:
        raise ValidationError("the batch holds no observations")
    if len(batch) > rt.settings.max_batch_observations:
        raise TooLarge(f"{len(batch)} observations; at most {rt.settings.max_batch_observations} per batch")
    claim = None
    if idem is not None:
        found = idempotency.claim(rt, key_name, idem, idempotency.fingerprint(raw))
        if isinstance(found, idempotency.Replay):
            log.info("api key %s: Idempotency-Key replayed, batch of %d not stored again", key_name, len(batch))
            reply = jsonify(found.body)
            reply.status_code = found.status
            reply.headers["Idempotent-Replay"] = "true"
            return reply
        claim = found
    try:
        result = ingest(rt, batch, source="http", claim=claim)
    except BaseException:
        if claim is not None:
            idempotency.release(rt, claim)
        raise
    log.debug("api key %s posted %d observations", key_name, len(batch))
    return jsonify(result.to_json())


@endpoint("/sensors/<sensor_id>/latest", "GET", summary="A sensor's latest values, their time and QA status",
          tag="ingest", response=LatestOut, auth="none", responses={404: "no such sensor"})
def get_latest(sensor_id: str) -> Any:
    rt = runtime()
    spec = sensors.get(rt, sensor_id)
    state = rt.redis.get_latest(spec.domain, spec.id) or {}
    return jsonify({"sensor_id": spec.id, "kind": spec.kind, "district": spec.district, "time": state.get("t"),
                    "values": state.get("v", {}), "qa": state.get("qa", {})})


@endpoint("/quarantine", "GET", summary="Quarantined values, newest first", tag="ingest", response=QuarantinePage,
          permission="quarantine.review", params=[
              {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(quarantine.STATES), "default": "held"}},
              {"name": "sensor_id", "in": "query", "schema": {"type": "string"}},
              {"name": "quantity", "in": "query", "schema": {"type": "string"}},
              {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
              {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
              {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100, "maximum": quarantine.MAX_PAGE}},
              {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}},
          ], responses={400: "bad filter"})
def get_quarantine() -> Any:
    require("quarantine.review")
    limit, offset = _query_param("limit", int), _query_param("offset", int)
    f = quarantine.QuarantineFilter(
        state=_query_param("state") or "held", sensor_id=_query_param("sensor_id"), quantity=_query_param("quantity"),
        since=_query_param("since", datetime), until=_query_param("until", datetime),
        limit=100 if limit is None else limit, offset=0 if offset is None else offset)
    items, total = quarantine.list_quarantine(runtime(), f)
    return jsonify({"items": items, "total": total})


@endpoint("/quarantine/<int:quarantine_id>/release", "POST", summary="Release a quarantined value (audited)",
          tag="ingest", body=ReleaseIn, response=QuarantineItem, permission="quarantine.review",
          responses={400: "no note", 404: "no such value", 409: "already released",
                     503: "Redis is down: the value stays held"})
def post_release(quarantine_id: int) -> Any:
    actor = require("quarantine.review")
    body: ReleaseIn = parse_body(ReleaseIn)
    context_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    return jsonify(quarantine.release(runtime(), quarantine_id, actor=actor, note=body.note, context_id=context_id[:40]))
