"""The reports routes: who may export, that each export is audited, and clear errors."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import openpyxl
import pypdf
import pytest
from sqlalchemy import select

from store.audit import verify
from store.models.core import AuditEntry
from store.runtime import Runtime

from api_helpers import client_as


def exports(rt: Runtime) -> list[AuditEntry]:
    with rt.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).all())


@pytest.mark.parametrize("role", ["shift_lead", "admin"])
def test_shift_leads_and_admins_export_every_format_and_each_export_is_audited(known_shift: tuple[Runtime, Any], role: str) -> None:
    rt, ks = known_shift
    c = client_as(rt, role)

    pdf = c.get("/api/v1/reports/shift?shift=2026-11-26T07&format=pdf&lang=en")
    xlsx = c.get("/api/v1/reports/shift?start=2026-11-26T07:00&end=2026-11-26T15:00&format=xlsx")
    zipped = c.get("/api/v1/reports/shift?shift=2026-11-26T07&format=csv")

    assert pdf.status_code == xlsx.status_code == zipped.status_code == 200
    assert pdf.mimetype == "application/pdf" and 'filename="cityops-2026-11-26T07.pdf"' in pdf.headers["Content-Disposition"]
    assert "Shift report" in pypdf.PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert "traffic_by_hour" in openpyxl.load_workbook(io.BytesIO(xlsx.data)).sheetnames
    assert "report.json" in zipfile.ZipFile(io.BytesIO(zipped.data)).namelist()
    assert pdf.headers["X-Content-SHA256"] == xlsx.headers["X-Content-SHA256"] == zipped.headers["X-Content-SHA256"]
    audited = exports(rt)
    assert [(e.actor, e.payload["format"], e.subject_id) for e in audited] == [
        (f"u-{role}", "pdf", "2026-11-26T07"), (f"u-{role}", "xlsx", "2026-11-26T07"), (f"u-{role}", "csv", "2026-11-26T07")]
    assert audited[0].payload["sha256"] == pdf.headers["X-Content-SHA256"]
    with rt.session() as s:
        assert verify(s) == []


@pytest.mark.parametrize("role", ["operator", "supervisor", "wall"])
def test_other_roles_cannot_export_and_nothing_is_audited(rt: Runtime, role: str) -> None:
    c = client_as(rt, role)

    r = c.get("/api/v1/reports/shift?shift=2026-11-26T07&format=pdf")

    assert r.status_code == 403 and r.json["key"] == "forbidden"
    assert exports(rt) == []


def test_signed_out_export_is_401(rt: Runtime) -> None:
    assert client_as(rt, None).get("/api/v1/reports/shift?shift=2026-11-26T07&format=csv").status_code == 401


def test_supervisor_may_preview_the_figures_as_json(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    c = client_as(rt, "supervisor")

    r = c.get("/api/v1/reports/shift?shift=2026-11-26T07")

    assert r.status_code == 200
    tables = {t["name"]: t for t in r.json["tables"]}
    assert "summary" in tables and len(r.json["sha256"]) == 64
    assert exports(rt) == []  # a preview is not an export
    assert client_as(rt, "operator", "op2").get("/api/v1/reports/shift?shift=2026-11-26T07").status_code == 403


@pytest.mark.parametrize(("query", "needle"), [
    ("shift=2026-11-26T08&format=pdf", "no shift starts at 08:00"),
    ("start=2026-11-26T07:00&format=pdf", "needs both start and end"),
    ("start=2026-11-26T09:00&end=2026-11-26T07:00&format=pdf", "after the start"),
    ("shift=2026-11-26T07&format=docx", "format"),
    ("shift=2026-11-26T07&format=pdf&lang=fr", "lang"),
    ("start=yesterday&end=today", "ISO 8601"),
])
def test_bad_requests_get_a_400_with_the_reason(rt: Runtime, query: str, needle: str) -> None:
    c = client_as(rt, "shift_lead")

    r = c.get(f"/api/v1/reports/shift?{query}")

    assert r.status_code == 400 and needle in r.json["message"]
    assert exports(rt) == []


def test_incident_report_over_the_api(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    c = client_as(rt, "shift_lead")

    ok = c.get(f"/api/v1/reports/incident/{ks.incident_id}?format=pdf&lang=en")
    missing = c.get("/api/v1/reports/incident/987654?format=pdf")

    assert ok.status_code == 200 and "Incident report" in pypdf.PdfReader(io.BytesIO(ok.data)).pages[0].extract_text()
    assert missing.status_code == 404
    assert [e.subject_id for e in exports(rt)] == [f"incident-{ks.incident_id}"]


def test_handover_notes_and_two_person_sign_off_over_the_api(rt: Runtime) -> None:
    # FakeClock: 2026-11-26 03:00 UTC = 12:00 KST, inside the 07 shift.
    out_lead = client_as(rt, "shift_lead", "lead.park")
    in_lead = client_as(rt, "shift_lead", "lead.han")
    operator = client_as(rt, "operator", "op.kim")

    assert out_lead.post("/api/v1/reports/handover/notes", json={"shift": "2026-11-26T07", "text": "Bridge 3 closed"}).status_code == 201
    assert operator.post("/api/v1/reports/handover/notes", json={"shift": "2026-11-26T07", "text": "x"}).status_code == 403
    assert out_lead.post("/api/v1/reports/handover/sign", json={"shift": "2026-11-26T07", "role": "incoming"}).status_code == 409
    assert out_lead.post("/api/v1/reports/handover/sign", json={"shift": "2026-11-26T07", "role": "outgoing"}).status_code == 201
    same = out_lead.post("/api/v1/reports/handover/sign", json={"shift": "2026-11-26T07", "role": "incoming"})
    assert same.status_code == 409 and "different person" in same.json["message"]
    late = out_lead.post("/api/v1/reports/handover/notes", json={"shift": "2026-11-26T07", "text": "one more"})
    assert late.status_code == 409
    rt.clock.advance(timedelta(hours=3).total_seconds())  # type: ignore[attr-defined]
    done = in_lead.post("/api/v1/reports/handover/sign", json={"shift": "2026-11-26T07", "role": "incoming", "comment": "ok"})

    assert done.status_code == 201
    assert [(s["role"], s["username"]) for s in done.json["signoffs"]] == [("outgoing", "lead.park"), ("incoming", "lead.han")]
    assert [n["text"] for n in done.json["notes"]] == ["Bridge 3 closed"]
    with rt.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "shift").order_by(AuditEntry.seq))]
    assert actions == ["handover.note", "handover.sign.outgoing", "handover.sign.incoming"]
    assert out_lead.post("/api/v1/reports/handover/notes", json={"shift": "2026-11-26T07"}).status_code == 400


def test_routes_are_in_the_openapi_document(rt: Runtime) -> None:
    doc = client_as(rt, None).get("/api/v1/openapi.json").json

    assert "/reports/shift" in doc["paths"] and "/reports/incident/{incident_id}" in doc["paths"]
    assert "/reports/handover/sign" in doc["paths"]
