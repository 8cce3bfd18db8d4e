"""Reports over REST: shift, range and incident reports as PDF, XLSX or CSV; handover notes and sign-off.

- ``GET /reports/shift?shift=2026-11-26T07&format=pdf`` or ``?start=...&end=...&format=xlsx``
  (no shift and no range: the current shift). ``format=json`` returns the canonical data (the
  document the SHA-256 covers) for a preview and needs only ``reports.view``; the file formats
  need ``reports.export`` (shift leads and admins) and each one is written to the audit log.
- ``GET /reports/incident/{id}?format=pdf``: the after-action report of one incident.
- ``GET /reports/handover?shift=``, ``POST /reports/handover/notes``, ``POST /reports/handover/sign``.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request, session
from pydantic import BaseModel, Field

from dashboard.api import endpoint, parse_body, require, runtime
from reports import export, handover, service
from reports.shift_report import Report
from store.errors import ValidationError

RANGE_PARAMS = [
    {"name": "shift", "in": "query", "required": False, "schema": {"type": "string"}, "description": "local date and start hour, e.g. 2026-11-26T07"},
    {"name": "start", "in": "query", "required": False, "schema": {"type": "string"}, "description": "ISO 8601; local time unless an offset is given"},
    {"name": "end", "in": "query", "required": False, "schema": {"type": "string"}},
]
FORMAT_PARAMS = [
    {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["pdf", "xlsx", "csv", "json"]},
     "description": "json (default): the canonical data, reports.view; pdf/xlsx/csv: a file, reports.export, audited"},
    {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": ["ko", "en"]}},
]


def _deliver(report: Report) -> Any:
    fmt = (request.args.get("format") or "json").lower()
    if fmt not in ("json", *service.FORMATS):
        raise ValidationError(f"format must be json, pdf, xlsx or csv, not {fmt!r}")
    if fmt == "json":
        require("reports.view")
        return jsonify({**export.canonical_document(report), "sha256": export.content_hash(report),
                        "generated_at": report.generated_at.isoformat(), "available": report.available})
    user = require("reports.export")
    lang = request.args.get("lang") or session.get("language")
    if lang not in (None, "ko", "en"):
        raise ValidationError("lang must be ko or en")
    out = service.export_report(runtime(), report, fmt, actor=user, lang=lang, context_id=uuid.uuid4().hex, via="api")
    return Response(out.content, mimetype=out.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{out.filename}"', "X-Content-SHA256": out.sha256})


@endpoint("/reports/shift", "GET", summary="Shift or range report (json preview, or a pdf/xlsx/csv file)", tag="reports",
          permission="reports.view", params=RANGE_PARAMS + FORMAT_PARAMS,
          responses={400: "bad shift, range or format", 403: "role may not view or export"})
def report_shift() -> Any:
    require("reports.view")
    rt = runtime()
    period = service.period_for(rt, shift=request.args.get("shift"), start=request.args.get("start"), end=request.args.get("end"))
    return _deliver(service.shift_report(rt, period))


@endpoint("/reports/incident/<int:incident_id>", "GET", summary="After-action report of one incident", tag="reports",
          permission="reports.view", params=FORMAT_PARAMS, responses={404: "no such incident"})
def report_incident(incident_id: int) -> Any:
    require("reports.view")
    return _deliver(service.incident_report(runtime(), incident_id))


class NoteIn(BaseModel):
    shift: str = Field(description="the shift, e.g. 2026-11-26T07", min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=handover.MAX_NOTE)


class SignIn(BaseModel):
    shift: str = Field(min_length=1, max_length=40)
    role: str = Field(description="outgoing or incoming")
    comment: str | None = Field(None, max_length=2000)


def _handover_json(period: Any) -> dict[str, Any]:
    with runtime().session() as s:
        notes = [{"id": n.id, "at": n.created_at.isoformat(), "author": n.author, "text": n.text} for n in handover.notes(s, period)]
        signs = [{"role": x.role, "username": x.username, "signed_at": x.signed_at.isoformat(), "comment": x.comment}
                 for x in handover.signoffs(s, period)]
    return {"shift": period.shift_id, "label": period.label, "notes": notes, "signoffs": signs}


@endpoint("/reports/handover", "GET", summary="A shift's handover notes and sign-offs", tag="reports", permission="reports.view",
          params=RANGE_PARAMS[:1])
def handover_get() -> Any:
    require("reports.view")
    rt = runtime()
    return jsonify(_handover_json(service.period_for(rt, shift=request.args.get("shift"))))


@endpoint("/reports/handover/notes", "POST", summary="Write a handover note on a shift (shift leads)", tag="reports",
          body=NoteIn, permission="handover.sign", responses={409: "the shift has not started or is signed"})
def handover_note() -> Any:
    user = require("handover.sign")
    body: NoteIn = parse_body(NoteIn)
    rt = runtime()
    period = service.period_for(rt, shift=body.shift)
    with rt.session() as s:
        handover.add_note(s, period, user, body.text, now=rt.clock.now(), context_id=uuid.uuid4().hex)
    return jsonify(_handover_json(period)), 201


@endpoint("/reports/handover/sign", "POST", summary="Sign a shift's handover as outgoing or incoming lead", tag="reports",
          body=SignIn, permission="handover.sign", responses={409: "already signed, out of order, or the same person twice"})
def handover_sign() -> Any:
    user = require("handover.sign")
    body: SignIn = parse_body(SignIn)
    rt = runtime()
    period = service.period_for(rt, shift=body.shift)
    with rt.session() as s:
        handover.sign(s, period, body.role, user, now=rt.clock.now(), comment=body.comment, context_id=uuid.uuid4().hex)
    return jsonify(_handover_json(period)), 201
