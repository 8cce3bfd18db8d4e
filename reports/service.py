"""Use cases of the reports package: find the period, build a report, export it (audited).

The CLI, the REST API and the Reports page all call these, so a report from any of them is the
same report. Permission checks (``reports.export``) belong to those entry points, which own the
roles table; the audit entry of an export is written here, in the transaction that read the data.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from reports import export, queries
from reports.shift_report import Report, build_incident_report, build_shift_report, default_targets
from reports.shifts import Period, make_range, parse_range, parse_shift_id, shift_at
from store import audit
from store.errors import NotFound, ValidationError
from store.runtime import Runtime

FORMATS = ("pdf", "xlsx", "csv")


def period_for(rt: Runtime, *, shift: str | None = None, start: str | None = None, end: str | None = None) -> Period:
    """The period a request names: a shift id, a start/end range, or (neither) the current shift."""
    s = rt.settings
    if shift and (start or end):
        raise ValidationError("give either a shift or a start and end, not both")
    if shift:
        return parse_shift_id(shift, s.shifts, s.timezone)
    if start or end:
        if not (start and end):
            raise ValidationError("a range needs both start and end")
        return parse_range(start, end, s.timezone, s.shifts)
    return shift_at(rt.clock.now(), s.shifts, s.timezone)


def shift_report(rt: Runtime, period: Period) -> Report:
    targets = default_targets()
    with rt.session() as session:
        src = queries.load(session, period, slow_kmh=float(targets["congestion_speed_kmh"]))
    return build_shift_report(src, generated_at=rt.clock.now(), targets=targets)


def incident_report(rt: Runtime, incident_id: int) -> Report:
    """The after-action report of one incident, over its life (opening to resolution, or now)."""
    m = queries._optional("alerts")
    if m is None:
        raise NotFound("incidents are not available: the alerts domain is not installed")
    now = rt.clock.now()
    with rt.session() as session:
        inc = session.scalars(select(m.Incident).where(m.Incident.id == incident_id)).first()
        if inc is None:
            raise NotFound(f"no incident {incident_id}")
        end = inc.resolved_at or now
        if end <= inc.opened_at:
            end = inc.opened_at + timedelta(seconds=1)
        period = make_range(inc.opened_at, end, rt.settings.timezone) if end - inc.opened_at <= timedelta(days=31) \
            else Period(inc.opened_at, end, rt.settings.timezone)
        loaded = queries.load_alerts(session, period, incident_id=incident_id)
        assert loaded is not None
        alert_ids = [int(x) for x in loaded["alerts"]["id"]]
        # Commands are linked by their cause (alert or incident); a legacy one only through its
        # params, so look a little before the incident for those too.
        window = Period(period.start - timedelta(hours=1), period.end, period.tz)
        cmds = queries.load_commands(session, window, linked_alerts=alert_ids, linked_incidents=[incident_id])
    src = queries.Sources(period, _empty_speed(), _empty_air(), _empty_qa(),
                          alerts=loaded["alerts"], alert_events=loaded["alert_events"], comments=loaded["comments"],
                          incidents=loaded["incidents"])
    if cmds is not None:
        src.commands, src.approvals, src.dispatches = cmds["commands"], cmds["approvals"], cmds["dispatches"]
    return build_incident_report(src, incident_id, generated_at=now)


def _empty_speed():  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"entity_type": pd.Series(dtype="str"), "bucket_start": pd.Series(dtype="datetime64[us, UTC]"),
                         "total": pd.Series(dtype="float64"), "n": pd.Series(dtype="int64"),
                         "buckets": pd.Series(dtype="int64"), "slow_buckets": pd.Series(dtype="int64")})


def _empty_air():  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"district": pd.Series(dtype="str"), "quantity": pd.Series(dtype="str"),
                         "total": pd.Series(dtype="float64"), "n": pd.Series(dtype="int64")})


def _empty_qa():  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"outcome": pd.Series(dtype="str"), "n": pd.Series(dtype="int64")})


@dataclass(frozen=True)
class Exported:
    content: bytes
    filename: str
    mimetype: str
    sha256: str  # of the report's canonical data (see reports.export.canonical_json)


def export_report(rt: Runtime, report: Report, fmt: str, *, actor: str, lang: str | None = None,
                  context_id: str | None = None, via: str = "api") -> Exported:
    """Render `report` as `fmt` and write the export to the audit log (who, what, which hash)."""
    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    lang = lang or rt.settings.language
    content = export.render(report, fmt, lang=lang)
    digest = export.content_hash(report)
    filename = f"cityops-{report.subject}.{'zip' if fmt == 'csv' else fmt}"
    with rt.session() as session:
        audit.append(session, at=rt.clock.now(), actor=actor, action="report.export", subject_type=f"report.{report.kind}",
                     subject_id=report.subject,
                     payload={"format": fmt, "start": report.period.start.isoformat(), "end": report.period.end.isoformat(),
                              "sha256": digest, "bytes": len(content), "via": via, "language": lang},
                     context_id=context_id)
    return Exported(content, filename, export.MIMETYPES[fmt], digest)
