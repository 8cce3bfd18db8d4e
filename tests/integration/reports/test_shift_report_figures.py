"""Every figure of the known shift, in the report and in all three exports, equals the figure
computed here independently from the database with plain SQL and the statistics module."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import statistics
import zipfile
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pypdf
import pytest
from sqlalchemy import bindparam, text

from feeds.aqi import cai
from reports import export, service
from reports.pdf import fmt_number
from reports.shift_report import Report
from store.db import UTCDateTime
from store.runtime import Runtime

FINAL = ("executed", "failed", "rejected", "expired", "cancelled")


# -- the independent computation -----------------------------------------------------------------
def sql(rt: Runtime, query: str, **params: Any) -> list[tuple[Any, ...]]:
    stmt = text(query)
    binds = [bindparam(k, type_=UTCDateTime()) if isinstance(v, datetime) else bindparam(k) for k, v in params.items()]
    if binds:
        stmt = stmt.bindparams(*binds)
    with rt.session() as s:
        return [tuple(r) for r in s.execute(stmt, params)]


def as_utc(v: Any) -> datetime:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def p90(values: list[float]) -> float:
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]


def expected_figures(rt: Runtime, s: datetime, e: datetime) -> dict[str, Any]:
    valid = "n > 0 AND flagged = 0"
    x: dict[str, Any] = {}
    (tot, n), = sql(rt, f"SELECT SUM(total), SUM(n) FROM rollups WHERE quantity='speed_kmh' AND entity_type='city' "
                        f"AND bucket_start >= :s AND bucket_start < :e AND {valid}", s=s, e=e)
    x["network_speed_kmh"] = tot / n
    (slow, all_), = sql(rt, f"SELECT SUM(CASE WHEN total / n < 15 THEN 1 ELSE 0 END), COUNT(*) FROM rollups "
                            f"WHERE quantity='speed_kmh' AND entity_type='sensor' AND bucket_start >= :s AND bucket_start < :e AND {valid}",
                        s=s, e=e)
    x["congestion_pct"] = 100.0 * slow / all_
    hours = []
    for h in range(8):
        hs = datetime.fromtimestamp(s.timestamp() + 3600 * h, UTC)
        he = datetime.fromtimestamp(s.timestamp() + 3600 * (h + 1), UTC)
        (t, nn), = sql(rt, f"SELECT SUM(total), SUM(n) FROM rollups WHERE quantity='speed_kmh' AND entity_type='city' "
                           f"AND bucket_start >= :s AND bucket_start < :e AND {valid}", s=hs, e=he)
        (sl, al), = sql(rt, f"SELECT SUM(CASE WHEN total / n < 15 THEN 1 ELSE 0 END), COUNT(*) FROM rollups "
                            f"WHERE quantity='speed_kmh' AND entity_type='sensor' AND bucket_start >= :s AND bucket_start < :e AND {valid}",
                        s=hs, e=he)
        hours.append((hs, t / nn, 100.0 * sl / al, al))
    x["traffic_by_hour"] = hours
    air: dict[str, dict[str, float]] = {}
    for district, q, t, nn in sql(rt, f"SELECT entity_id, quantity, SUM(total), SUM(n) FROM rollups WHERE entity_type='district' "
                                      f"AND bucket_start >= :s AND bucket_start < :e AND {valid} GROUP BY entity_id, quantity", s=s, e=e):
        air.setdefault(district, {})[q] = t / nn
    x["air"] = {d: (v["pm25"], cai(v).value) for d, v in air.items()}  # type: ignore[union-attr]
    (pt, pn), = sql(rt, f"SELECT SUM(total), SUM(n) FROM rollups WHERE entity_type='district' AND quantity='pm25' "
                        f"AND bucket_start >= :s AND bucket_start < :e AND {valid}", s=s, e=e)
    x["pm25_mean"] = pt / pn
    x["qa"] = dict(sql(rt, "SELECT outcome, SUM(n) FROM qa_counts WHERE bucket_start >= :s AND bucket_start < :e GROUP BY outcome",
                       s=s, e=e))
    for col in ("category", "severity", "district"):
        x[f"by_{col}"] = {(k or "unknown"): (n, ev) for k, n, ev in sql(
            rt, f"SELECT {col}, COUNT(*), SUM(count) FROM alerts WHERE opened_at >= :s AND opened_at < :e GROUP BY {col}", s=s, e=e)}
    resp: dict[tuple[str, str], tuple[int, float, float]] = {}
    for measure, col in (("acknowledge", "acknowledged_at"), ("resolve", "resolved_at")):
        rows = sql(rt, f"SELECT severity, opened_at, {col} FROM alerts WHERE {col} >= :s AND {col} < :e", s=s, e=e)
        mins = [(sev, (as_utc(done) - as_utc(op)).total_seconds() / 60) for sev, op, done in rows]
        for sev in ("all", "critical", "major", "minor", "info"):
            m = [v for k, v in mins if sev in ("all", k)]
            if m:
                resp[(measure, sev)] = (len(m), statistics.median(m), p90(m))
    x["response"] = resp
    prec: dict[str, list[int]] = {}
    for cat, verdict, n in sql(rt, "SELECT category, verdict, COUNT(*) FROM alerts WHERE resolved_at >= :s AND resolved_at < :e "
                                   "AND verdict IS NOT NULL GROUP BY category, verdict", s=s, e=e):
        prec.setdefault(cat, [0, 0])[0 if verdict == "true_positive" else 1] += n
    x["precision"] = {c: (tp, fp, 100.0 * tp / (tp + fp)) for c, (tp, fp) in prec.items()}
    tp_all = sum(v[0] for v in prec.values())
    x["precision_pct"] = 100.0 * tp_all / sum(v[0] + v[1] for v in prec.values())
    cmds = sql(rt, "SELECT id, type, state, proposer FROM commands WHERE created_at >= :s AND created_at < :e ORDER BY created_at", s=s, e=e)
    x["commands"] = {}
    for cid, typ, state, proposer in cmds:
        approvers = sql(rt, "SELECT user_id FROM command_approvals WHERE command_id = :c ORDER BY at", c=cid)
        (attempts,), = sql(rt, "SELECT COUNT(*) FROM dispatch_results WHERE command_id = :c", c=cid)
        x["commands"][cid] = (typ, state, proposer, [a for (a,) in approvers], attempts)
    open_alerts = sql(rt, "SELECT id FROM alerts WHERE opened_at < :e AND (resolved_at IS NULL OR resolved_at >= :e)", e=e)
    open_incidents = sql(rt, "SELECT id FROM incidents WHERE opened_at < :e AND (resolved_at IS NULL OR resolved_at >= :e)", e=e)
    open_cmds = sql(rt, "SELECT id FROM commands WHERE created_at < :e AND (state NOT IN ('executed','failed','rejected','expired',"
                        "'cancelled') OR updated_at >= :e)", e=e)
    x["open_items"] = {("alert", i) for (i,) in open_alerts} | {("incident", i) for (i,) in open_incidents} | {("command", i) for (i,) in open_cmds}
    x["notes"] = [t for (t,) in sql(rt, "SELECT text FROM handover_notes WHERE shift_start >= :s AND shift_start < :e ORDER BY created_at",
                                   s=s, e=e)]
    x["signers"] = dict(sql(rt, "SELECT role, username FROM handover_signoffs WHERE shift_start >= :s AND shift_start < :e", s=s, e=e))
    return x


# -- reading the figures back out of each format ---------------------------------------------------
Rows = dict[str, list[dict[str, Any]]]


def from_report(report: Report) -> Rows:
    out: Rows = {}
    for name, df in report.tables.items():
        out[name] = [{k: (None if (isinstance(v, float) and math.isnan(v)) or v is None or str(v) == "NaT" else
                          v.to_pydatetime() if hasattr(v, "to_pydatetime") else v) for k, v in r.items()}
                     for r in df.to_dict("records")]
    return out


def from_csv(content: bytes) -> Rows:
    out: Rows = {}
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        for name in z.namelist():
            if name.endswith(".csv"):
                out[name[3:-4]] = list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8-sig"))))
    return out


def from_xlsx(content: bytes, tz: str) -> Rows:
    wb = openpyxl.load_workbook(io.BytesIO(content))
    out: Rows = {}
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        header = [re.sub(r" \(.*\)$", "", str(h)) for h in rows[0]]
        out[ws.title] = [dict(zip(header, r)) for r in rows[1:]]
    return out


def num(v: Any) -> float | None:
    if v is None or v == "":
        return None
    f = float(v)
    return None if math.isnan(f) else f


def when(v: Any, tz: str) -> datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC) if v.tzinfo is None else v.astimezone(UTC)


def assert_close(got: dict[Any, tuple[Any, ...]], want: dict[Any, tuple[Any, ...]]) -> None:
    assert set(got) == set(want)
    for k in want:
        assert tuple(got[k]) == pytest.approx(tuple(want[k])), k


def check_rows(rows: Rows, x: dict[str, Any], tz: str) -> None:
    """The same assertions for the DataFrames, the CSV and the XLSX (values parsed back)."""
    summary = {r["key"]: num(r["value"]) for r in rows["summary"]}
    assert summary["network_speed_kmh"] == pytest.approx(x["network_speed_kmh"])
    assert summary["congestion_pct"] == pytest.approx(x["congestion_pct"])
    assert summary["pm25_mean"] == pytest.approx(x["pm25_mean"])
    assert summary["observations"] == sum(x["qa"].values())
    assert summary["alerts_opened"] == sum(n for n, _ in x["by_severity"].values())
    assert summary["alerts_critical"] == x["by_severity"]["critical"][0]
    assert summary["ack_median_min"] == pytest.approx(x["response"][("acknowledge", "all")][1])
    assert summary["ack_p_min"] == pytest.approx(x["response"][("acknowledge", "all")][2])
    assert summary["resolve_p_min"] == pytest.approx(x["response"][("resolve", "all")][2])
    assert summary["precision_pct"] == pytest.approx(x["precision_pct"])
    assert summary["commands_proposed"] == len(x["commands"])
    assert summary["commands_executed"] == sum(1 for c in x["commands"].values() if c[1] == "executed")
    assert summary["open_items"] == len(x["open_items"])

    traffic = [(when(r["hour"], tz), num(r["mean_speed_kmh"]), num(r["congestion_pct"]), num(r["buckets"])) for r in rows["traffic_by_hour"]]
    assert len(traffic) == len(x["traffic_by_hour"]) == 8
    for got, want in zip(traffic, x["traffic_by_hour"]):
        assert got[0] == want[0]
        assert got[1:] == pytest.approx(want[1:])

    air = {r["district"]: (num(r["pm25_mean"]), num(r["cai"])) for r in rows["air_by_district"]}
    assert_close(air, x["air"])
    assert {r["outcome"]: num(r["n"]) for r in rows["qa_outcomes"]} == x["qa"]
    for col in ("category", "severity", "district"):
        assert {r[col]: (num(r["alerts"]), num(r["events"])) for r in rows[f"alerts_by_{col}"]} == x[f"by_{col}"]

    resp = {(r["measure"], r["severity"]): (num(r["n"]), num(r["median_min"]), num(r["p90_min"]))
            for r in rows["response_times"] if num(r["n"])}
    assert_close(resp, x["response"])
    assert_close({r["category"]: (num(r["true_positive"]), num(r["false_positive"]), num(r["precision_pct"]))
                  for r in rows["precision"]}, x["precision"])

    cmds = {int(num(r["command_id"])): (r["type"], r["state"], r["proposer"],  # type: ignore[arg-type]
                                        [a.split(" (")[0] for a in (r["approvers"] or "").split(", ") if a], num(r["attempts"]))
            for r in rows["commands"]}
    assert cmds == x["commands"]
    assert {(r["kind"], int(num(r["id"]))) for r in rows["open_items"]} == x["open_items"]  # type: ignore[arg-type]
    assert [r["text"] for r in rows["handover_notes"]] == x["notes"]
    assert {r["role"]: r["username"] for r in rows["handover_signoff"]} == x["signers"]


def check_pdf(content: bytes, x: dict[str, Any], report: Report) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    pages = [p.extract_text() for p in reader.pages]
    blob = "\n".join(line.strip() for p in pages for line in p.splitlines() if line.strip())

    def has(*cells: str) -> bool:
        return "\n".join(cells) in blob

    # Cover: label, then the value as printed.
    assert has("Network mean speed", f"{fmt_number(x['network_speed_kmh'])} km/h")
    assert has("Congestion", f"{fmt_number(x['congestion_pct'])} %")
    assert has("PM2.5 mean (city)", f"{fmt_number(x['pm25_mean'])} ug/m3")
    assert has("Observations received", fmt_number(int(sum(x["qa"].values()))))
    assert has("Alerts opened", str(sum(n for n, _ in x["by_severity"].values())))
    assert has("Time to acknowledge, 90th percentile", f"{fmt_number(x['response'][('acknowledge', 'all')][2])} min")
    assert has("Precision (all categories)", f"{fmt_number(x['precision_pct'])} %")
    # Tables: whole rows, cell after cell.
    for hour, speed, cong, buckets in x["traffic_by_hour"]:
        assert has(hour.astimezone(ZoneInfo(report.period.tz)).strftime("%m-%d %H:%M"), fmt_number(speed), fmt_number(cong), str(buckets))
    for district, (pm25, index) in x["air"].items():
        assert has(district, fmt_number(pm25))
        assert str(index) in blob
    for outcome, n in x["qa"].items():
        assert has(outcome, fmt_number(int(n)))
    for cat, (n, ev) in x["by_category"].items():
        assert has(cat, str(n), str(ev))
    for (measure, sev), (n, med, p) in x["response"].items():
        assert has(measure, sev, str(n), fmt_number(med), fmt_number(p))
    for cat, (tp, fp, pct) in x["precision"].items():
        assert has(cat, str(tp), str(fp), fmt_number(pct))
    for cid, (typ, state, proposer, _approvers, _attempts) in x["commands"].items():
        assert has(str(cid), typ, state, proposer)
    for note in x["notes"]:
        assert note in blob
    # Furniture: page numbers, generated-at and the hash on every page.
    digest = export.content_hash(report)
    for i, page in enumerate(pages, start=1):
        assert f"Page {i} of {len(pages)}" in page
        assert digest in page and "Generated" in page
    return blob


# -- the tests -------------------------------------------------------------------------------------
def test_every_figure_matches_the_database_in_all_formats(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    x = expected_figures(rt, ks.period.start, ks.period.end)

    report = service.shift_report(rt, ks.period)
    csv_zip = export.render(report, "csv")
    xlsx = export.render(report, "xlsx")
    pdf = export.render(report, "pdf", lang="en")

    check_rows(from_report(report), x, ks.period.tz)
    check_rows(from_csv(csv_zip), x, ks.period.tz)
    check_rows(from_xlsx(xlsx, ks.period.tz), x, ks.period.tz)
    check_pdf(pdf, x, report)


def test_known_shift_figures_are_the_ones_designed_into_it(known_shift: tuple[Runtime, Any]) -> None:
    """Guard against a fixture that silently stopped producing data: the independent figures are
    themselves pinned to what the rows were built to give."""
    rt, ks = known_shift

    x = expected_figures(rt, ks.period.start, ks.period.end)

    assert sum(n for n, _ in x["by_severity"].values()) == 9  # 11 alerts, one before and one after the shift
    assert x["by_category"]["traffic_accident"] == (2, 3)  # the crash folded once
    assert x["response"][("acknowledge", "critical")][0] == 2  # the one opened before the shift counts: acked in it
    assert x["precision"]["traffic_accident"][:2] == (2, 1)
    assert x["open_items"] == {("alert", ks.alert_ids["pm"]), ("alert", ks.alert_ids["leak"]),
                               ("alert", ks.alert_ids["late_resolve"]), ("command", ks.command_ids["pending"])}
    assert sorted(x["commands"]) == sorted(ks.command_ids[k] for k in ("reroute", "emergency", "gas", "failed", "pending"))


def test_hash_in_the_pdf_is_the_sha256_of_report_json_in_the_csv_zip(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    report = service.shift_report(rt, ks.period)

    with zipfile.ZipFile(io.BytesIO(export.render(report, "csv"))) as z:
        canonical = z.read("report.json")
        manifest = json.loads(z.read("manifest.json"))
    text_ = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(export.render(report, "pdf"))).pages)

    digest = hashlib.sha256(canonical).hexdigest()
    assert digest in text_
    assert manifest["sha256"] == digest
    assert json.loads(canonical)["period"] == {"start": "2026-11-25T22:00:00Z", "end": "2026-11-26T06:00:00Z", "tz": "Asia/Seoul"}


def test_hash_does_not_depend_on_when_or_in_which_language_it_was_made(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    first = service.shift_report(rt, ks.period)
    rt.clock.advance(3600)  # type: ignore[attr-defined]

    second = service.shift_report(rt, ks.period)

    assert export.content_hash(first) == export.content_hash(second)
    assert export.render(first, "pdf", lang="ko") != export.render(first, "pdf", lang="en")


def test_hash_changes_when_a_figure_changes(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    before = export.content_hash(service.shift_report(rt, ks.period))
    with rt.session() as s:
        s.execute(text("UPDATE qa_counts SET n = n + 1 WHERE outcome = 'rejected'"))

    after = export.content_hash(service.shift_report(rt, ks.period))

    assert before != after


def test_xlsx_columns_are_typed(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    report = service.shift_report(rt, ks.period)

    wb = openpyxl.load_workbook(io.BytesIO(export.render(report, "xlsx")))

    assert wb.sheetnames == ["about", *report.tables]
    traffic = wb["traffic_by_hour"]
    assert traffic["A1"].value == "hour (Asia/Seoul)"
    assert traffic["A2"].value == datetime(2026, 11, 26, 7, 0)  # local time, a real date-time
    assert traffic["A2"].is_date
    assert isinstance(traffic["B2"].value, float) and traffic["B2"].data_type == "n"
    assert isinstance(traffic["D2"].value, int)
    commands = wb["commands"]
    header = [c.value for c in commands[1]]
    row = {h: c for h, c in zip(header, commands[2])}
    assert isinstance(row["command_id"].value, int)
    assert row["proposed_at (Asia/Seoul)"].is_date
    assert isinstance(row["proposer"].value, str)
    qa = wb["qa_outcomes"]
    assert all(isinstance(r[1].value, int) for r in qa.iter_rows(min_row=2))


def test_korean_pdf_holds_korean_labels_and_the_same_figures(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift
    report = service.shift_report(rt, ks.period)
    x = expected_figures(rt, ks.period.start, ks.period.end)

    blob = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(export.render(report, "pdf", lang="ko"))).pages)

    assert "근무 교대 보고서" in blob and "네트워크 평균 속도" in blob
    assert f"{fmt_number(x['network_speed_kmh'])} km/h" in blob
    assert "강남 누수 경보 미해결" in blob  # a Korean handover note survives the round trip
    assert "교통사고" in blob  # categories in Korean


def test_incident_report_holds_its_timeline_in_order(known_shift: tuple[Runtime, Any]) -> None:
    rt, ks = known_shift

    report = service.incident_report(rt, ks.incident_id)

    tl = report.tables["incident_timeline"]
    assert list(tl["at"]) == sorted(tl["at"])
    kinds = list(tl["kind"])
    assert kinds[0] == "alert_opened" and kinds[-1] == "incident_resolved"
    assert "folded" not in " ".join(kinds)
    assert kinds.count("command_approved") == 2 and kinds.count("dispatch_failed") == 1 and kinds.count("comment") == 1
    assert set(report.tables["commands"]["command_id"]) == {ks.command_ids["reroute"], ks.command_ids["emergency"]}
    assert set(report.tables["alerts"]["alert_id"]) == {ks.alert_ids["crash"], ks.alert_ids["crash2"]}
    blob = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(export.render(report, "pdf"))).pages)
    assert "Incident report" in blob and "Gangnam crash" in blob and "attempt 1: timeout" in blob


def test_incident_report_of_a_missing_incident_is_not_found(known_shift: tuple[Runtime, Any]) -> None:
    from store.errors import NotFound

    rt, _ = known_shift

    with pytest.raises(NotFound):
        service.incident_report(rt, 999_999)
