"""Air-quality indices: Korea's CAI (통합대기환경지수) and the US EPA AQI, as pure functions.

The breakpoint tables live in ``aqi_tables.json`` with their sources, so a correction is one
edit. Callers pass validated concentrations only (never quarantined or flagged values) and say
which averaging window they used; `pm_24h_predicted` gives AirKorea's 24-hour predicted moving
average for PM.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CAI_POLLUTANTS = ("pm25", "pm10", "o3", "no2", "co", "so2")
CAI_REQUIRED = ("pm25", "pm10", "o3", "no2")  # AirKorea computes CAI only when all four are present
PM_M = {"pm10": 70.0, "pm25": 30.0}  # AirKorea's threshold M for the hourly adjustment


@cache
def tables() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "aqi_tables.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SubIndex:
    pollutant: str
    concentration: float
    index: int
    grade: str  # good | moderate | unhealthy | very_unhealthy (CAI); EPA names for US AQI
    level: int  # 0-based band number, for colours and shapes


def _interpolate(system: str, pollutant: str, c: float) -> SubIndex | None:
    table = tables()[system]
    spec = table["pollutants"][pollutant]
    if c is None or math.isnan(c) or c < 0:
        return None
    if "truncate" in spec:
        factor = 10 ** spec["truncate"]
        c = math.floor(c * factor) / factor
    bands = spec["bands"]
    for level, band in enumerate(bands):
        if band is None:
            continue
        lo, hi = band
        nxt = next((b for b in bands[level + 1:] if b is not None), None)
        upper = nxt[0] if nxt is not None else hi
        if c < upper or (nxt is None and c <= hi):
            i_lo, i_hi = table["index_bands"][level]
            idx = (i_hi - i_lo) / (hi - lo) * (min(c, hi) - lo) + i_lo if c >= lo else i_lo
            return SubIndex(pollutant, c, int(round(idx)), table["grades"][level], level)
    # Above the top band: the top of the scale.
    top = len(bands) - 1
    return SubIndex(pollutant, c, table["index_bands"][top][1], table["grades"][top], top)


def cai_sub_index(pollutant: str, concentration: float) -> SubIndex | None:
    """CAI of one pollutant (PM in µg/m³ as the 24 h predicted average; gases in ppm, 1 h)."""
    return _interpolate("cai", pollutant, concentration)


def us_aqi_sub_index(pollutant: str, concentration: float) -> SubIndex | None:
    """US AQI of one pollutant (PM µg/m³ 24 h, O3 ppm 8 h, NO2 ppb 1 h)."""
    return _interpolate("us_aqi", pollutant, concentration)


@dataclass(frozen=True)
class Index:
    value: int
    grade: str
    level: int
    pollutant: str  # the pollutant that sets the index
    subs: tuple[SubIndex, ...]


def _overall(subs: Sequence[SubIndex | None]) -> Index | None:
    present = [s for s in subs if s is not None]
    if not present:
        return None
    worst = max(present, key=lambda s: s.index)
    return Index(worst.index, worst.grade, worst.level, worst.pollutant, tuple(present))


def cai(concentrations: Mapping[str, float | None], *, require_all: bool = True) -> Index | None:
    """Overall CAI: the largest sub-index. None when a required pollutant is missing."""
    if require_all and any(concentrations.get(p) is None for p in CAI_REQUIRED):
        return None
    return _overall([cai_sub_index(p, c) for p, c in concentrations.items() if p in CAI_POLLUTANTS and c is not None])


def us_aqi(concentrations: Mapping[str, float | None]) -> Index | None:
    """Overall US AQI from PM (µg/m³), O3 (ppm, 8 h) and NO2 (given in ppm, converted to ppb)."""
    subs = []
    for p, c in concentrations.items():
        if c is None or p not in ("pm25", "pm10", "o3", "no2"):
            continue
        subs.append(us_aqi_sub_index(p, c * 1000 if p == "no2" else c))
    return _overall(subs)


def pm_24h_predicted(hourly: Sequence[float | None], pollutant: str) -> float | None:
    """AirKorea's 24-hour predicted moving average, from hourly means oldest → newest.

    C24E = (C12 × 12 + C4 × 12) / 24: C12 the mean of the last 12 hourly values, C4 the mean of
    the last 4 adjusted ones, where Ci becomes 0.75 × Ci when Ci ≥ M and 0.9 ≤ Ci / C12 ≤ 1.7.
    Missing hours are skipped; with fewer than 4 of the last 12 present the figure is withheld.
    """
    last12 = [c for c in list(hourly)[-12:] if c is not None]
    if len(last12) < 4:
        return None
    c12 = sum(last12) / len(last12)
    m = PM_M[pollutant]
    last4 = [c for c in list(hourly)[-4:] if c is not None]
    if not last4:
        return None
    adjusted = [0.75 * c if c >= m and c12 > 0 and 0.9 <= c / c12 <= 1.7 else c for c in last4]
    c4 = sum(adjusted) / len(adjusted)
    return (c12 * 12 + c4 * 12) / 24
