"""``GET /api/v1/air/districts``: what the wall and the air page show, for other systems.

Each district's current Korean CAI with its grade in Korean and English, the pollutant that sets
it and the averaging window of that pollutant, the US EPA AQI beside it, and the age of the data.
A figure that cannot be computed from validated data is null with the reason, never a guess.

Sign-in is required (permission ``view.live``, every role including the wall). Open data without
sign-in is deliberately not offered here: this route reads the live store on every call, and a
public feed belongs behind a cache and a rate limit (or on the city's open-data portal), which is
a decision for the city, not a side effect of this route. Programs sign in with
``POST /api/v1/session``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import jsonify
from pydantic import BaseModel, Field

from dashboard.api import endpoint, require, runtime
from feeds import air_queries
from feeds.citypack import load_pack
from store.i18n import t


class IndexOut(BaseModel):
    value: int | None = Field(description="The index (largest sub-index), null when withheld")
    grade: str | None = Field(description="Grade key: good, moderate, unhealthy, ...")
    grade_ko: str | None
    grade_en: str | None
    pollutant: str | None = Field(description="The pollutant that sets the index")
    window: str | None = Field(description="Averaging window of that pollutant: 24h-predicted, 1h, 8h or 24h")
    reason: str | None = Field(None, description="Why the index is withheld")


class DistrictOut(BaseModel):
    district: str = Field(description="District key (English name as in the boundary file)")
    name_ko: str
    cai: IndexOut
    us_aqi: IndexOut
    sensors: int = Field(description="Air sensors in the district")
    reporting: int = Field(description="Sensors with at least one validated value in the last 24 h")
    observed_at: datetime | None = Field(description="Newest reading of the district's sensors (UTC)")
    age_s: float | None = Field(description="Seconds since that reading")


class DistrictsOut(BaseModel):
    generated_at: datetime
    windows: dict[str, str] = Field(description="What each window name means")
    districts: list[DistrictOut] = Field(description="Worst CAI first; withheld ones last")


WINDOWS = {
    air_queries.WINDOW_PM_CAI: "AirKorea's 24-hour predicted moving average of hourly means (PM, CAI)",
    air_queries.WINDOW_1H: "mean of the last hour",
    air_queries.WINDOW_8H: "mean of the last 8 hourly means (O3, US AQI; at least 6)",
    air_queries.WINDOW_24H: "mean of the last 24 hourly means (PM, US AQI; at least 18)",
}


def _index(idx: air_queries.AirIndex, grade_prefix: str) -> dict[str, Any]:
    grade = idx.grade
    return {"value": idx.value, "grade": grade,
            "grade_ko": t(f"{grade_prefix}{grade}", "ko") if grade else None,
            "grade_en": t(f"{grade_prefix}{grade}", "en") if grade else None,
            "pollutant": idx.pollutant, "window": idx.window, "reason": idx.reason}


@endpoint("/air/districts", summary="Each district's current CAI and US AQI", tag="air", response=DistrictsOut,
          permission="view.live")
def air_districts() -> Any:
    require("view.live")
    rt = runtime()
    s = rt.settings
    districts = air_queries.read_districts(rt, load_pack(s.city, s.scale, s.sim_seed))
    out = DistrictsOut(generated_at=rt.clock.now(), windows=WINDOWS, districts=[
        DistrictOut(district=d.district, name_ko=d.name_ko, cai=IndexOut(**_index(d.cai, "cai.")),
                    us_aqi=IndexOut(**_index(d.us_aqi, "air.us.")), sensors=d.sensors, reporting=d.reporting,
                    observed_at=d.observed_at, age_s=d.age_s)
        for d in districts])
    return jsonify(out.model_dump(mode="json"))
