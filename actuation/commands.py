"""The six command types and what each takes: one pydantic model per type, validated before a
command enters the queue, so the queue only ever holds commands a field system can carry out.

`validate_params(type, params)` is the one entry point (forms, REST API, CAP import); it returns
the params as plain JSON (what is stored and dispatched) or raises ValidationError with each
field's problem.
"""
from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from store.errors import ValidationError

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,79}$")]


@cache
def district_names() -> dict[str, str]:
    """Every accepted spelling of a district (English key, Korean name, code) → English key."""
    from feeds.citypack import seoul_districts

    names: dict[str, str] = {}
    for d in seoul_districts():
        names[d.name_en.lower()] = names[d.name_ko] = names[d.code] = d.name_en
    return names


def _district(name: str) -> str:
    key = district_names().get(name) or district_names().get(name.lower())
    if key is None:
        raise ValueError(f"unknown district {name!r}")
    return key


District = Annotated[str, Field(min_length=1, max_length=40)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _districts(values: list[str]) -> list[str]:
    out = [_district(v) for v in values]
    if len(set(out)) != len(out):
        raise ValueError("a district is listed twice")
    return out


class BusReroute(_Params):
    """Buses of one route leave a stretch (links or stops) and follow a detour for a while."""

    route: Ident
    avoid_links: list[Ident] = Field(default_factory=list, max_length=200)
    avoid_stops: list[Ident] = Field(default_factory=list, max_length=200)
    detour: list[Ident] = Field(min_length=1, max_length=200, description="links or stops of the detour, in order")
    start: AwareDatetime
    end: AwareDatetime
    reason: Short

    @model_validator(mode="after")
    def _check(self) -> BusReroute:
        if not self.avoid_links and not self.avoid_stops:
            raise ValueError("name the stretch to avoid: avoid_links or avoid_stops")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if set(self.detour) & (set(self.avoid_links) | set(self.avoid_stops)):
            raise ValueError("the detour uses the stretch it avoids")
        return self


CAP_CATEGORIES = Literal["Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"]
CAP_URGENCY = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
CAP_SEVERITY = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
CAP_CERTAINTY = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
CAP_RESPONSE = Literal["Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"]
CHANNELS = ("cell_broadcast", "wall_display", "roadside_display", "smart_pole_speaker", "app_push")
Channel = Literal["cell_broadcast", "wall_display", "roadside_display", "smart_pole_speaker", "app_push"]


class EmergencyAlert(_Params):
    """A public warning, sent as CAP 1.2 to several channels. Texts in Korean and English."""

    event: Short
    category: list[CAP_CATEGORIES] = Field(min_length=1)
    urgency: CAP_URGENCY
    severity: CAP_SEVERITY
    certainty: CAP_CERTAINTY
    response_type: list[CAP_RESPONSE] = Field(default_factory=list)
    headline_ko: Short
    headline_en: Short
    description_ko: Text
    description_en: Text
    instruction_ko: str = Field("", max_length=2000)
    instruction_en: str = Field("", max_length=2000)
    districts: list[District] = Field(default_factory=list, max_length=25)
    polygon: list[tuple[float, float]] | None = Field(None, description="(lat, lon) ring, first point = last, at least 4 points")
    area_desc: str = Field("", max_length=500)
    effective: AwareDatetime
    expires: AwareDatetime
    channels: list[Channel] = Field(min_length=1)
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    references: list[int] = Field(default_factory=list, description="ids of the commands whose alerts this updates or cancels")

    _check_districts = field_validator("districts")(classmethod(lambda cls, v: _districts(v)))

    @field_validator("polygon")
    @classmethod
    def _ring(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        if len(v) < 4 or v[0] != v[-1]:
            raise ValueError("a polygon is a closed ring: at least 4 points, the first repeated last")
        for lat, lon in v:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"point ({lat}, {lon}) is not a latitude, longitude pair")
        return v

    @model_validator(mode="after")
    def _check(self) -> EmergencyAlert:
        if not self.districts and not self.polygon:
            raise ValueError("give the area: districts or a polygon")
        if self.expires <= self.effective:
            raise ValueError("expires must be after effective")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("a channel is listed twice")
        if self.msg_type != "Alert" and not self.references:
            raise ValueError(f"an {self.msg_type} must reference the command(s) whose alert it changes")
        return self


class DimStep(_Params):
    at: time = Field(description="local time of day the level starts")
    level_pct: int = Field(ge=0, le=100)


class LightOverride(_Params):
    level_pct: int = Field(ge=0, le=100)
    end: AwareDatetime


class LightingSchedule(_Params):
    """Street lights of some districts: a dimming profile by time of day, or an override until an end time."""

    districts: list[District] = Field(min_length=1, max_length=25)
    profile: list[DimStep] | None = Field(None, min_length=1, max_length=48)
    override: LightOverride | None = None

    _check_districts = field_validator("districts")(classmethod(lambda cls, v: _districts(v)))

    @model_validator(mode="after")
    def _check(self) -> LightingSchedule:
        if (self.profile is None) == (self.override is None):
            raise ValueError("give exactly one of profile or override")
        if self.profile:
            times = [s.at for s in self.profile]
            if times != sorted(times) or len(set(times)) != len(times):
                raise ValueError("profile steps must be in increasing time order")
        return self


class SignalPlan(_Params):
    cycle_s: int = Field(ge=30, le=240)
    green_s: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,20}$")], int] = Field(min_length=2, max_length=8,
                                                                                     description="green seconds per phase")
    lost_s_per_phase: int = Field(4, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> SignalPlan:
        if any(g < 5 for g in self.green_s.values()):
            raise ValueError("every phase needs at least 5 s of green")
        total = sum(self.green_s.values()) + self.lost_s_per_phase * len(self.green_s)
        if total != self.cycle_s:
            raise ValueError(f"greens plus lost time ({total} s) must equal the cycle ({self.cycle_s} s)")
        return self


class SignalTiming(_Params):
    """A timing plan for one intersection or a corridor, for a while, then back to the old plan."""

    intersection: Ident | None = None
    corridor: Ident | None = None
    plan: SignalPlan
    duration_minutes: int = Field(ge=1, le=1440)
    revert: bool = True

    @model_validator(mode="after")
    def _check(self) -> SignalTiming:
        if (self.intersection is None) == (self.corridor is None):
            raise ValueError("give exactly one of intersection or corridor")
        return self


class BridgeClosure(_Params):
    bridge: Short
    direction: Literal["both", "northbound", "southbound", "eastbound", "westbound"]
    start: AwareDatetime
    end: AwareDatetime
    detour: Short

    @model_validator(mode="after")
    def _check(self) -> BridgeClosure:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class GasShutoff(_Params):
    """Close a gas valve or every valve of a zone. `zone`: a district (name or code) or a valve id."""

    zone: Short
    reason: Annotated[str, Field(min_length=3, max_length=500)]

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            return _district(v)
        except ValueError:
            if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,79}", v):
                return v  # a valve id
            raise ValueError(f"{v!r} is neither a district nor a valve id") from None


PARAMS: dict[str, type[_Params]] = {
    "bus_reroute": BusReroute,
    "emergency_alert": EmergencyAlert,
    "lighting_schedule": LightingSchedule,
    "signal_timing": SignalTiming,
    "bridge_closure": BridgeClosure,
    "gas_shutoff": GasShutoff,
}


def parse_params(type_: str, params: Any) -> _Params:
    model = PARAMS.get(type_)
    if model is None:
        raise ValidationError(f"unknown command type {type_!r}; one of {', '.join(PARAMS)}")
    if not isinstance(params, dict):
        raise ValidationError("params must be an object")
    try:
        return model.model_validate(params)
    except PydanticValidationError as exc:
        raise ValidationError(f"the {type_} params are not valid", details=[
            {"field": ".".join(str(p) for p in e["loc"]) or "params", "problem": e["msg"]} for e in exc.errors()
        ]) from None


def validate_params(type_: str, params: Any) -> dict[str, Any]:
    """The params as stored: validated, normalised (district keys), JSON-ready."""
    return parse_params(type_, params).model_dump(mode="json")


def affected_districts(type_: str, params: dict[str, Any]) -> list[str]:
    """Districts a command touches, for the map and the population figure (empty when unknown)."""
    if type_ in ("emergency_alert", "lighting_schedule"):
        return list(params.get("districts") or [])
    if type_ == "gas_shutoff" and params.get("zone") in district_names().values():
        return [params["zone"]]
    return []


def affected_population(type_: str, params: dict[str, Any]) -> int:
    from feeds.citypack import seoul_districts

    names = set(affected_districts(type_, params))
    return sum(d.population for d in seoul_districts() if d.name_en in names)
