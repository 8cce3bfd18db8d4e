"""Edges: an empty shift exports cleanly; a daylight-saving night has 9 (or 7) hours; handover
through the service is audited and survives a race for the same role."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pypdf
import pytest
from sqlalchemy import select

from reports import export, handover, service
from reports.shifts import parse_shift_id
from store.clock import FakeClock
from store.errors import Conflict
from store.models.core import AuditEntry, QaCount, Rollup
from store.runtime import Runtime
from store.settings import Settings


@pytest.mark.parametrize("fmt", ["pdf", "xlsx", "csv"])
def test_an_empty_shift_exports_cleanly(any_db_rt: Runtime, fmt: str) -> None:
    rt = any_db_rt
    report = service.shift_report(rt, service.period_for(rt, shift="2026-11-26T07"))

    out = service.export_report(rt, report, fmt, actor="lead.park", lang="en")

    assert out.content
    if fmt == "pdf":
        text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(out.content)).pages)
        assert "Nothing in this period." in text and "no data" in text
        assert "nan" not in text.lower().split()
    elif fmt == "xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(out.content))
        assert wb["commands"].max_row == 1  # the header only
        assert [c.value for c in wb["qa_outcomes"]["B"][1:]] == [0, 0, 0, 0]
    else:
        names = zipfile.ZipFile(io.BytesIO(out.content)).namelist()
        assert len([n for n in names if n.endswith(".csv")]) == len(report.tables)
    assert report.headline()["network_speed_kmh"] is None  # unknown, not zero
    assert report.headline()["alerts_opened"] == 0


@pytest.fixture
def berlin_rt(tmp_path: Path) -> Iterator[Runtime]:
    s = Settings(data_dir=tmp_path / "var", simulator="off", timezone="Europe/Berlin", redis_prefix="tdst", _env_file=None)  # type: ignore[call-arg]
    rt = Runtime.start(s, clock=FakeClock(datetime(2026, 10, 25, 12, 0, tzinfo=UTC)))
    yield rt
    rt.close()


def test_autumn_dst_night_shift_reports_nine_hours(berlin_rt: Runtime) -> None:
    rt = berlin_rt
    night = parse_shift_id("2026-10-24T23", rt.settings.shifts, rt.settings.timezone)
    with rt.session() as s:  # one city bucket per UTC hour, speed = 40 + the hour's index
        for i in range(-1, 10):
            s.add(Rollup(entity_type="city", entity_id="city", quantity="speed_kmh", bucket_start=night.start + timedelta(hours=i),
                         bucket_minutes=5, n=1, total=40.0 + i, minimum=0, maximum=0, flagged=0))
            s.add(QaCount(bucket_start=night.start + timedelta(hours=i), outcome="accepted", n=100))

    report = service.shift_report(rt, night)

    traffic = report.tables["traffic_by_hour"]
    assert night.duration == timedelta(hours=9)
    assert list(traffic["mean_speed_kmh"]) == [40.0 + i for i in range(9)]
    local = [h.tz_convert("Europe/Berlin").strftime("%H%z") for h in traffic["hour"]]
    assert local == ["23+0200", "00+0200", "01+0200", "02+0200", "02+0100", "03+0100", "04+0100", "05+0100", "06+0100"]
    assert report.headline()["observations"] == 900  # nine hours of buckets, not eight
    with zipfile.ZipFile(io.BytesIO(export.render(report, "csv"))) as z:
        rows = z.read("02_traffic_by_hour.csv").decode("utf-8-sig").splitlines()[1:]
    assert [r.split(",")[0][11:] for r in rows][3:5] == ["02:00:00+02:00", "02:00:00+01:00"]  # the repeated hour, told apart
    assert export.render(report, "pdf", lang="en")[:5] == b"%PDF-"


def test_spring_dst_night_shift_reports_seven_hours(berlin_rt: Runtime) -> None:
    night = parse_shift_id("2026-03-28T23", berlin_rt.settings.shifts, berlin_rt.settings.timezone)

    report = service.shift_report(berlin_rt, night)

    assert len(report.tables["traffic_by_hour"]) == 7
    assert report.period.label == "2026-03-28 23:00–07:00 (+1) (Europe/Berlin)"


def test_a_range_across_the_dst_change_is_accepted(berlin_rt: Runtime) -> None:
    period = service.period_for(berlin_rt, start="2026-10-25T00:00", end="2026-10-25T06:00")

    report = service.shift_report(berlin_rt, period)

    assert period.duration == timedelta(hours=7)
    assert len(report.tables["traffic_by_hour"]) == 7


def test_handover_through_the_service_is_audited_and_one_role_signs_once(any_db_rt: Runtime) -> None:
    rt = any_db_rt
    period = service.period_for(rt, shift="2026-11-26T07")
    with rt.session() as s:
        handover.add_note(s, period, "lead.park", "Signal 12 on manual", now=rt.clock.now())
        handover.sign(s, period, "outgoing", "lead.park", now=rt.clock.now())

    with pytest.raises(Conflict), rt.session() as s:
        handover.sign(s, period, "outgoing", "lead.kim", now=rt.clock.now())

    with rt.session() as s:
        assert [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == ["handover.note", "handover.sign.outgoing"]
    report = service.shift_report(rt, period)
    assert list(report.tables["handover_notes"]["text"]) == ["Signal 12 on manual"]
    assert list(report.tables["handover_signoff"]["username"]) == ["lead.park"]
