"""The shift report and the incident report: tables built with pandas from `reports.queries`.

`build_*` take a `Sources` (DataFrames already read) and return a `Report`: an ordered set of
named tables, the same tables every export writes (one CSV file, one sheet, one PDF section
each). The figures are defined here once, so the three formats cannot disagree:

- **traffic_by_hour**: for each local clock hour the period touches (7 or 9 on a DST night),
  the network mean speed = Σ total / Σ n of the validated ``speed_kmh`` rollup buckets starting
  in that hour (city-level rollups when present, else district, else sensor), and congestion =
  the share of sensor-level buckets (district-level when there are none) whose mean is below
  ``congestion_speed_kmh`` (targets.json). "Validated" = a bucket with no flagged value (`feeds.hourly.usable_buckets`).
- **air_by_district**: each pollutant's Σ total / Σ n over the period per district, and the CAI
  of those means (`feeds.aqi.cai`; PM as the period mean, not AirKorea's 24 h forecast average;
  withheld when one of PM2.5, PM10, O3, NO2 is missing, as AirKorea does).
- **qa_outcomes**: Σ n of ``qa_counts`` per outcome over buckets starting in the period.
- **alerts_by_category / severity / district**: alerts *opened* in the period (each alert once;
  ``events`` adds the repeats folded into it).
- **response_times**: minutes from opening to acknowledgement for alerts *acknowledged* in the
  period, and to resolution for alerts *resolved* in it — the work this shift did — by severity
  and overall: count, median, the percentile of targets.json (linear interpolation, as numpy and
  ``statistics.quantiles(method="inclusive")``), the target, the share within it, and whether
  the percentile meets it.
- **precision**: per category, verdicts given on alerts resolved in the period: TP / (TP + FP).
- **incidents / incident_timeline**: incidents open at any time in the period; their alerts'
  history (folds left out: the count says it), comments, and the commands proposed from one of
  their alerts or the incident (the command's ``alert_id`` / ``incident_id``; in its params for
  commands stored before those columns) with approvals and dispatch.
- **commands**: every command proposed in the period, with approvers, times and result.
- **open_items**: alerts, incidents and commands still open at the period's end.
- **handover_notes / handover_signoff**: of the shifts starting in the period.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.queries import AIR_POLLUTANTS, Sources
from reports.shifts import Period, hour_floor, hours_in

SEVERITIES = ("critical", "major", "minor", "info")  # most severe first, as people read them
FINAL_COMMAND_STATES = frozenset({"executed", "failed", "rejected", "expired", "cancelled"})
QA_OUTCOMES = ("accepted", "flagged", "quarantined", "rejected")


@cache
def default_targets() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "targets.json").read_text(encoding="utf-8"))


@dataclass
class Report:
    """What every export renders. `tables` keep their order; `available` says which data domains
    were installed (a missing one is "not available", never a row of zeros)."""

    kind: str  # shift | range | incident
    period: Period
    generated_at: datetime
    tables: dict[str, pd.DataFrame]
    available: dict[str, bool] = field(default_factory=dict)
    subject: str = ""  # the shift id, or "incident 12"
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # derived once: the canonical bytes

    def headline(self) -> dict[str, float | None]:
        s = self.tables.get("summary")
        if s is None or s.empty:
            return {}
        return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
                for k, v in zip(s["key"], s["value"])}


def _minutes(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 60.0


def _in(series: pd.Series, period: Period) -> pd.Series:
    return (series >= pd.Timestamp(period.start)) & (series < pd.Timestamp(period.end))


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return scale * num / den if den else float("nan")


# -- data tables -------------------------------------------------------------------------------
def traffic_by_hour(src: Sources) -> pd.DataFrame:
    hours = [h.astimezone(UTC) for h in hours_in(src.period)]
    out = pd.DataFrame({"hour": pd.to_datetime(hours, utc=True)})
    df = src.speed
    if df.empty:
        out["mean_speed_kmh"], out["congestion_pct"], out["buckets"] = np.nan, np.nan, 0
        return out
    zone = src.period.zone
    starts = {t: hour_floor(t.to_pydatetime(), zone) for t in df["bucket_start"].unique()}
    df = df.assign(hour=pd.to_datetime(df["bucket_start"].map(starts), utc=True))
    levels = set(df["entity_type"])
    speed_level = next((lv for lv in ("city", "district", "sensor") if lv in levels), None)
    cong_level = next((lv for lv in ("sensor", "district") if lv in levels), None)
    sp = df[df["entity_type"] == speed_level].groupby("hour")[["total", "n"]].sum()
    cg = df[df["entity_type"] == cong_level].groupby("hour")[["slow_buckets", "buckets"]].sum()
    out = out.set_index("hour")
    out["mean_speed_kmh"] = (sp["total"] / sp["n"]).reindex(out.index)
    out["congestion_pct"] = (100.0 * cg["slow_buckets"] / cg["buckets"]).reindex(out.index)
    out["buckets"] = cg["buckets"].reindex(out.index).fillna(0).astype("int64")
    return out.reset_index()


def air_by_district(src: Sources) -> pd.DataFrame:
    from feeds.aqi import cai

    cols = ["district"] + [f"{p}_mean" for p in AIR_POLLUTANTS] + ["cai", "cai_grade", "cai_pollutant"]
    df = src.air
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.endswith("_mean") or c == "cai" else "str") for c in cols})
    df = df.assign(mean=df["total"] / df["n"])
    wide = df.pivot_table(index="district", columns="quantity", values="mean", aggfunc="first")
    wide = wide.reindex(columns=list(AIR_POLLUTANTS)).sort_index()
    rows = []
    for district, r in wide.iterrows():
        conc = {p: (None if pd.isna(r[p]) else float(r[p])) for p in AIR_POLLUTANTS}
        idx = cai(conc)
        rows.append([district] + [conc[p] if conc[p] is not None else np.nan for p in AIR_POLLUTANTS]
                    + [float(idx.value) if idx else np.nan, idx.grade if idx else "", idx.pollutant if idx else ""])
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({f"{p}_mean": "float64" for p in AIR_POLLUTANTS} | {"cai": "float64"})


def qa_outcomes(src: Sources) -> pd.DataFrame:
    counts = dict(zip(src.qa["outcome"], src.qa["n"]))
    names = list(QA_OUTCOMES) + sorted(set(counts) - set(QA_OUTCOMES))
    return pd.DataFrame({"outcome": names, "n": [int(counts.get(o, 0)) for o in names]}).astype({"n": "int64"})


def _opened_in(src: Sources) -> pd.DataFrame:
    a = src.alerts
    assert a is not None
    return a[a["in_period"] & _in(a["opened_at"], src.period)]


def alerts_by(src: Sources, column: str, order: tuple[str, ...] = ()) -> pd.DataFrame:
    a = _opened_in(src)
    keys = a[column].fillna("unknown").astype(str)
    g = a.assign(key=keys).groupby("key").agg(alerts=("id", "size"), events=("count", "sum"))
    names = [o for o in order if o in g.index] + sorted(set(g.index) - set(order))
    if not order:
        names = list(g.sort_values(["alerts"], ascending=False, kind="stable").index)
    g = g.reindex(names)
    return g.reset_index().rename(columns={"key": column}).astype({"alerts": "int64", "events": "int64"})


def response_times(src: Sources, targets: dict[str, Any]) -> pd.DataFrame:
    a, p = src.alerts, src.period
    assert a is not None
    q = float(targets.get("percentile", 90)) / 100.0
    rows = []
    for measure, col, tkey in (("acknowledge", "acknowledged_at", "ack_minutes"), ("resolve", "resolved_at", "resolve_minutes")):
        done = a[_in(a[col], p)]
        mins = _minutes(done[col] - done["opened_at"])
        for sev in ("all",) + SEVERITIES:
            m = mins if sev == "all" else mins[done["severity"] == sev]
            target = targets.get(tkey, {}).get(sev) if sev != "all" else None
            n = int(m.size)
            pct = float(m.quantile(q)) if n else float("nan")
            within = _ratio(float((m <= target).sum()), n, 100.0) if target is not None else float("nan")
            rows.append({"measure": measure, "severity": sev, "n": n,
                         "median_min": float(m.median()) if n else float("nan"), "p_min": pct,
                         "target_min": float(target) if target is not None else float("nan"),
                         "within_target_pct": within,
                         "meets_target": "" if target is None or not n else ("yes" if pct <= target else "no")})
    df = pd.DataFrame(rows)
    return df.rename(columns={"p_min": f"p{int(round(q * 100))}_min"})


def precision(src: Sources) -> pd.DataFrame:
    a = src.alerts
    assert a is not None
    judged = a[_in(a["resolved_at"], src.period) & a["verdict"].isin(["true_positive", "false_positive"])]
    g = judged.groupby("category")["verdict"].value_counts().unstack(fill_value=0)
    g = g.reindex(columns=["true_positive", "false_positive"], fill_value=0).sort_index()
    out = g.reset_index().astype({"true_positive": "int64", "false_positive": "int64"})
    out.columns.name = None
    out["precision_pct"] = 100.0 * out["true_positive"] / (out["true_positive"] + out["false_positive"])
    return out


def _command_rows(src: Sources, cmds: pd.DataFrame) -> pd.DataFrame:
    """One row per command; approvals and dispatch attempts folded in by group (one pass each,
    not one filter per command: a Seoul shift has ~5,000 commands)."""
    cols = ["command_id", "type", "state", "proposer", "proposed_at", "approvers", "approved_at", "dispatched_at",
            "finished_at", "attempts", "result"]
    if cmds.empty:
        return _empty(cols, times=("proposed_at", "approved_at", "dispatched_at", "finished_at"), ints=("command_id", "attempts"))
    ap = src.approvals if src.approvals is not None else pd.DataFrame(columns=["command_id", "user_id", "role", "at"])
    ds = src.dispatches if src.dispatches is not None else pd.DataFrame(columns=["command_id", "started_at", "finished_at", "ok", "error"])
    ap = ap.sort_values("at", kind="stable")
    approvers = (ap["user_id"].astype(str) + " (" + ap["role"].astype(str) + ")").groupby(ap["command_id"]).agg(", ".join)
    approved_at = ap.groupby("command_id")["at"].max()
    by = ds.groupby("command_id")
    first_start, last_end, attempts = by["started_at"].min(), by["finished_at"].max(), by.size()
    errors = ds[ds["error"].map(_text) != ""]
    last_error = errors.groupby("command_id")["error"].last()
    ids = cmds["id"]
    final = cmds["state"].isin(FINAL_COMMAND_STATES)
    approvers, approved_at, first_start, last_end, attempts, last_error = (
        _by_id(x) for x in (approvers, approved_at, first_start, last_end, attempts, last_error))
    out = pd.DataFrame({
        "command_id": ids.astype("int64").to_numpy(), "type": cmds["type"].to_numpy(), "state": cmds["state"].to_numpy(),
        "proposer": cmds["proposer"].to_numpy(), "proposed_at": cmds["created_at"].to_numpy(),
        "approvers": ids.map(approvers).astype(object).fillna("").to_numpy(), "approved_at": ids.map(approved_at).to_numpy(),
        "dispatched_at": ids.map(first_start).to_numpy(),
        "finished_at": ids.map(last_end).where(ids.map(last_end).notna(), cmds["updated_at"].where(final)).to_numpy(),
        "attempts": ids.map(attempts).fillna(0).astype("int64").to_numpy(),
    })
    out["result"] = [_result_text(state, int(n), _text(err), _text(reason))
                     for state, n, err, reason in zip(cmds["state"], out["attempts"], ids.map(last_error), cmds["reason"])]
    return _times(out[cols], ("proposed_at", "approved_at", "dispatched_at", "finished_at"))


def _by_id(grouped: pd.Series) -> pd.Series:
    """A per-command aggregate ready for `ids.map`: when no command had any (no approvals at all,
    nothing dispatched yet), an empty object series, since pandas cannot map an empty datetime
    or float aggregate onto ids (a cast error) or fill it with text."""
    return grouped if len(grouped) else pd.Series(dtype=object)


def _result_text(state: str, attempts: int, last_error: str, reason: str) -> str:
    if state == "executed":
        return "executed" + (f" after {attempts} attempts" if attempts > 1 else "")
    if state == "failed":
        return "failed" + (f": {last_error}" if last_error else "")
    if state in ("rejected", "expired", "cancelled"):
        return state + (f": {reason}" if reason and state == "rejected" else "")
    return f"{state} (not finished)"


def commands_table(src: Sources) -> pd.DataFrame:
    c = src.commands
    assert c is not None
    return _command_rows(src, c[_in(c["created_at"], src.period)])


def incidents_table(src: Sources) -> pd.DataFrame:
    inc, a = src.incidents, src.alerts
    assert inc is not None and a is not None
    cols = ["incident_id", "name", "state", "district", "opened_at", "resolved_at", "alerts", "commands"]
    if inc.empty:
        return _empty(cols, times=("opened_at", "resolved_at"), ints=("incident_id", "alerts", "commands"))
    linked = _linked_commands(src)
    rows = [{"incident_id": int(i.id), "name": _text(i.name), "state": i.state, "district": _text(i.district),
             "opened_at": i.opened_at, "resolved_at": i.resolved_at,
             "alerts": int((a["incident_id"] == i.id).sum()), "commands": int(len(linked.get(int(i.id), [])))}
            for i in inc.itertuples(index=False)]
    return _times(pd.DataFrame(rows, columns=cols), ("opened_at", "resolved_at"))


def _linked_commands(src: Sources) -> dict[int, list[int]]:
    """incident id -> ids of commands caused by the incident or one of its alerts (the command's
    ``incident_id`` / ``alert_id``, as `reports.queries.cause_of` reads them)."""
    from reports.queries import cause_of

    if src.commands is None or src.alerts is None or src.incidents is None:
        return {}
    alert_incident = {int(k): int(v) for k, v in zip(src.alerts["id"], src.alerts["incident_id"]) if pd.notna(v)}
    out: dict[int, list[int]] = {}
    for cid, alert_id, incident_id, params in zip(src.commands["id"], src.commands["alert_id"], src.commands["incident_id"],
                                                  src.commands["params"]):
        alert_id, inc = cause_of(alert_id, incident_id, params)
        if inc is None:
            inc = alert_incident.get(alert_id if alert_id is not None else -1)
        if inc is not None:
            out.setdefault(inc, []).append(int(cid))
    return out


def timeline(src: Sources, incident_ids: list[int]) -> pd.DataFrame:
    """Everything that happened to the incidents, in order: alerts, their history, comments,
    commands, approvals and dispatch attempts."""
    cols = ["incident_id", "at", "kind", "actor", "ref", "detail"]
    a, inc = src.alerts, src.incidents
    if a is None or inc is None or not incident_ids:
        return _empty(cols, times=("at",), ints=("incident_id",))
    rows: list[dict[str, Any]] = []
    alert_inc = {int(k): int(v) for k, v in zip(a["id"], a["incident_id"]) if pd.notna(v) and int(v) in incident_ids}
    for i in inc[inc["id"].isin(incident_ids)].itertuples(index=False):
        rows.append(dict(incident_id=int(i.id), at=i.opened_at, kind="incident_opened", actor=i.opened_by, ref=f"incident {i.id}",
                         detail=_text(i.name)))
        if pd.notna(i.resolved_at):
            rows.append(dict(incident_id=int(i.id), at=i.resolved_at, kind="incident_resolved", actor=_text(i.resolved_by),
                             ref=f"incident {i.id}", detail=_text(i.verdict)))
    alerts = a[a["id"].isin(list(alert_inc))].set_index("id")
    ev = src.alert_events if src.alert_events is not None else pd.DataFrame(columns=["alert_id", "at", "actor", "kind", "payload"])
    for e in ev[ev["alert_id"].isin(list(alert_inc)) & (ev["kind"] != "folded")].itertuples(index=False):
        al = alerts.loc[e.alert_id]
        detail = f"{al['category']} {al['severity']} {al['place']}" if e.kind == "opened" else _payload_text(e.payload)
        rows.append(dict(incident_id=alert_inc[int(e.alert_id)], at=e.at, kind=f"alert_{e.kind}", actor=e.actor,
                         ref=f"alert {e.alert_id}", detail=detail))
    cm = src.comments if src.comments is not None else pd.DataFrame(columns=["alert_id", "at", "author", "text"])
    for c in cm[cm["alert_id"].isin(list(alert_inc))].itertuples(index=False):
        rows.append(dict(incident_id=alert_inc[int(c.alert_id)], at=c.at, kind="comment", actor=c.author, ref=f"alert {c.alert_id}",
                         detail=c.text))
    cmds = src.commands
    for inc_id, cids in _linked_commands(src).items():
        if inc_id not in incident_ids or cmds is None:
            continue
        for c in cmds[cmds["id"].isin(cids)].itertuples(index=False):
            ref = f"command {c.id}"
            rows.append(dict(incident_id=inc_id, at=c.created_at, kind="command_proposed", actor=c.proposer, ref=ref, detail=c.type))
            if src.approvals is not None:
                for ap in src.approvals[src.approvals["command_id"] == c.id].itertuples(index=False):
                    rows.append(dict(incident_id=inc_id, at=ap.at, kind="command_approved", actor=ap.user_id, ref=ref, detail=ap.role))
            if src.dispatches is not None:
                for d in src.dispatches[src.dispatches["command_id"] == c.id].itertuples(index=False):
                    rows.append(dict(incident_id=inc_id, at=d.finished_at, kind="dispatch_ok" if d.ok else "dispatch_failed",
                                     actor=d.worker, ref=ref, detail=f"attempt {d.attempt}" + (f": {d.error}" if _text(d.error) else "")))
            if c.state in ("rejected", "expired", "cancelled"):
                rows.append(dict(incident_id=inc_id, at=c.updated_at, kind=f"command_{c.state}", actor="", ref=ref,
                                 detail=_text(c.reason)))
    out = _times(pd.DataFrame(rows, columns=cols), ("at",))
    order = {"incident_opened": 0, "alert_opened": 1}
    out = out.assign(_o=out["kind"].map(order).fillna(5)).sort_values(["incident_id", "at", "_o"], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True).astype({"incident_id": "int64"})


def _text(v: Any) -> str:
    """A text cell: missing (None, NaN) becomes "", so no table shows "nan"."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    return str(v)


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as text with "" for missing, so every export types them the same way."""
    for c in df.columns:
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype):
            df[c] = df[c].map(_text).astype("str")
    return df


def _payload_text(payload: Any) -> str:
    if not isinstance(payload, dict) or not payload:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(payload.items()))


def open_items(src: Sources) -> pd.DataFrame:
    cols = ["kind", "id", "state", "what", "district", "since", "age_min"]
    e = pd.Timestamp(src.period.end)
    rows: list[dict[str, Any]] = []
    if src.alerts is not None:
        a = src.alerts
        still = a[(a["opened_at"] < e) & (a["resolved_at"].isna() | (a["resolved_at"] >= e))]
        for r in still.itertuples(index=False):
            acked = pd.notna(r.acknowledged_at) and r.acknowledged_at < e
            rows.append(dict(kind="alert", id=int(r.id), state="acknowledged" if acked else "open",
                             what=f"{r.category} ({r.severity})", district=_text(r.district), since=r.opened_at))
    if src.incidents is not None:
        i = src.incidents
        for r in i[(i["opened_at"] < e) & (i["resolved_at"].isna() | (i["resolved_at"] >= e))].itertuples(index=False):
            rows.append(dict(kind="incident", id=int(r.id), state="open", what=_text(r.name), district=_text(r.district),
                             since=r.opened_at))
    if src.commands is not None:
        c = src.commands
        still = c[(c["created_at"] < e) & (~c["state"].isin(FINAL_COMMAND_STATES) | (c["updated_at"] >= e))]
        for r in still.itertuples(index=False):
            rows.append(dict(kind="command", id=int(r.id), state=r.state if r.state not in FINAL_COMMAND_STATES else "open",
                             what=r.type, district="", since=r.created_at))
    out = _times(pd.DataFrame(rows, columns=cols), ("since",))
    out["age_min"] = _minutes(e - out["since"]) if len(out) else pd.Series(dtype="float64")
    return out.astype({"id": "int64", "age_min": "float64"})


def handover_tables(src: Sources) -> tuple[pd.DataFrame, pd.DataFrame]:
    notes = src.notes.reindex(columns=["shift_id", "at", "author", "text"])
    signs = src.signoffs.reindex(columns=["shift_id", "role", "username", "signed_at", "comment"])
    return _times(notes, ("at",)), _times(signs.fillna({"comment": ""}), ("signed_at",))


def _empty(cols: list[str], *, times: tuple[str, ...] = (), ints: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c in times else "int64" if c in ints else "str")
                         for c in cols})


def _times(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


# -- the headline ------------------------------------------------------------------------------
SUMMARY_KEYS = (
    ("network_speed_kmh", "km/h"), ("congestion_pct", "%"), ("pm25_mean", "ug/m3"), ("cai_max", ""),
    ("observations", ""), ("qa_rejected", ""), ("qa_quarantined", ""), ("qa_flagged", ""),
    ("alerts_opened", ""), ("alerts_critical", ""), ("ack_median_min", "min"), ("ack_p_min", "min"),
    ("resolve_median_min", "min"), ("resolve_p_min", "min"), ("precision_pct", "%"),
    ("incidents", ""), ("commands_proposed", ""), ("commands_executed", ""), ("commands_failed", ""),
    ("open_items", ""), ("handover_notes", ""),
)


def summary(src: Sources, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    nan = float("nan")
    v: dict[str, float] = {}
    sp = src.speed
    level = next((lv for lv in ("city", "district", "sensor") if lv in set(sp["entity_type"])), None)
    s = sp[sp["entity_type"] == level]
    v["network_speed_kmh"] = _ratio(float(s["total"].sum()), float(s["n"].sum()))
    cl = next((lv for lv in ("sensor", "district") if lv in set(sp["entity_type"])), None)
    c = sp[sp["entity_type"] == cl]
    v["congestion_pct"] = _ratio(float(c["slow_buckets"].sum()), float(c["buckets"].sum()), 100.0)
    pm = src.air[src.air["quantity"] == "pm25"]
    v["pm25_mean"] = _ratio(float(pm["total"].sum()), float(pm["n"].sum()))
    air = t["air_by_district"]
    v["cai_max"] = float(air["cai"].max()) if air["cai"].notna().any() else nan
    qa = dict(zip(t["qa_outcomes"]["outcome"], t["qa_outcomes"]["n"]))
    v["observations"] = float(sum(qa.values()))
    for o in ("rejected", "quarantined", "flagged"):
        v[f"qa_{o}"] = float(qa.get(o, 0))
    if "response_times" in t:
        sev = t["alerts_by_severity"]
        v["alerts_opened"] = float(sev["alerts"].sum())
        v["alerts_critical"] = float(sev.loc[sev["severity"] == "critical", "alerts"].sum())
        rt = t["response_times"].set_index(["measure", "severity"])
        pcol = next(col for col in rt.columns if col.startswith("p") and col.endswith("_min"))
        for m, key in (("acknowledge", "ack"), ("resolve", "resolve")):
            v[f"{key}_median_min"] = float(rt.loc[(m, "all"), "median_min"])
            v[f"{key}_p_min"] = float(rt.loc[(m, "all"), pcol])
        pr = t["precision"]
        v["precision_pct"] = _ratio(float(pr["true_positive"].sum()), float(pr["true_positive"].sum() + pr["false_positive"].sum()), 100.0)
        v["incidents"] = float(len(t["incidents"]))
    if "commands" in t:
        cm = t["commands"]
        v["commands_proposed"] = float(len(cm))
        v["commands_executed"] = float((cm["state"] == "executed").sum())
        v["commands_failed"] = float((cm["state"] == "failed").sum())
    v["open_items"] = float(len(t["open_items"]))
    v["handover_notes"] = float(len(t["handover_notes"]))
    keys = [(k, u) for k, u in SUMMARY_KEYS if k in v]
    return pd.DataFrame({"key": [k for k, _ in keys], "value": [v[k] for k, _ in keys], "unit": [u for _, u in keys]}).astype({"value": "float64"})


# -- reports -----------------------------------------------------------------------------------
def build_shift_report(src: Sources, *, generated_at: datetime, targets: dict[str, Any] | None = None) -> Report:
    """The shift (or range) report: every table, in the order people read them."""
    targets = targets or default_targets()
    t: dict[str, pd.DataFrame] = {}
    t["traffic_by_hour"] = traffic_by_hour(src)
    t["air_by_district"] = air_by_district(src)
    t["qa_outcomes"] = qa_outcomes(src)
    has_alerts, has_commands = src.alerts is not None, src.commands is not None
    if has_alerts:
        t["alerts_by_category"] = alerts_by(src, "category")
        t["alerts_by_severity"] = alerts_by(src, "severity", SEVERITIES)
        t["alerts_by_district"] = alerts_by(src, "district")
        t["response_times"] = response_times(src, targets)
        t["precision"] = precision(src)
        t["incidents"] = incidents_table(src)
        t["incident_timeline"] = timeline(src, [int(x) for x in t["incidents"]["incident_id"]])
    if has_commands:
        t["commands"] = commands_table(src)
    t["open_items"] = open_items(src)
    t["handover_notes"], t["handover_signoff"] = handover_tables(src)
    ordered = {name: _clean(df) for name, df in {"summary": summary(src, t), **t}.items()}
    p = src.period
    return Report("shift" if p.shift is not None else "range", p, generated_at, ordered,
                  available={"alerts": has_alerts, "commands": has_commands}, subject=p.shift_id or p.slug)


def build_incident_report(src: Sources, incident_id: int, *, generated_at: datetime,
                          targets: dict[str, Any] | None = None) -> Report:
    """The after-action report of one incident: what it was, its alerts, timeline and commands."""
    targets = targets or default_targets()
    assert src.alerts is not None and src.incidents is not None
    t: dict[str, pd.DataFrame] = {}
    inc = incidents_table(src)
    t["incident"] = inc
    a = src.alerts
    alerts = a[["id", "category", "severity", "state", "district", "place", "count", "opened_at", "acknowledged_at",
                "acknowledged_by", "resolved_at", "resolved_by", "verdict"]].rename(columns={"id": "alert_id"})
    alerts = alerts.assign(ack_min=_minutes(alerts["acknowledged_at"] - alerts["opened_at"]),
                           resolve_min=_minutes(alerts["resolved_at"] - alerts["opened_at"]))
    t["alerts"] = alerts.astype({"alert_id": "int64", "count": "int64"}).reset_index(drop=True)
    t["incident_timeline"] = timeline(src, [incident_id])
    t["commands"] = _command_rows(src, src.commands) if src.commands is not None else _command_rows(src, pd.DataFrame())
    row = inc.iloc[0]
    end = row["resolved_at"] if pd.notna(row["resolved_at"]) else pd.Timestamp(generated_at)
    v = {"alerts": float(len(alerts)), "events": float(alerts["count"].sum()),
         "duration_min": float((end - row["opened_at"]).total_seconds() / 60.0),
         "ack_median_min": float(alerts["ack_min"].median()) if alerts["ack_min"].notna().any() else float("nan"),
         "resolve_median_min": float(alerts["resolve_min"].median()) if alerts["resolve_min"].notna().any() else float("nan"),
         "commands": float(len(t["commands"])),
         "commands_executed": float((t["commands"]["state"] == "executed").sum())}
    units = {"duration_min": "min", "ack_median_min": "min", "resolve_median_min": "min"}
    summary_df = pd.DataFrame({"key": list(v), "value": list(v.values()), "unit": [units.get(k, "") for k in v]})
    tables = {name: _clean(df) for name, df in {"summary": summary_df.astype({"value": "float64"}), **t}.items()}
    return Report("incident", src.period, generated_at, tables,
                  available={"alerts": True, "commands": src.commands is not None}, subject=f"incident-{incident_id}")
