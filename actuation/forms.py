"""The proposal form of each command type, derived from its pydantic model, so a new field in
`actuation.commands` appears on the Commands page without page code. Pure: specs of the fields,
params → form values (local times), form values → params (then `validate_params` decides).
"""
from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime

from actuation.commands import PARAMS, district_names

LONG_TEXT = ("description_ko", "description_en", "instruction_ko", "instruction_en", "reason", "area_desc")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | textarea | choice | multi | list | datetime | int | bool | json
    required: bool
    options: tuple[str, ...] = ()


def _strip(tp: Any) -> tuple[Any, bool]:
    """The type without Annotated and without `| None`; and whether None was allowed."""
    optional = False
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(tp))
            if len(args) != 1:
                return tp, optional
            tp = args[0]
        else:
            return tp, optional


def _kind(name: str, tp: Any) -> tuple[str, tuple[str, ...]]:
    tp, _ = _strip(tp)
    origin = typing.get_origin(tp)
    if name in ("districts",):
        return "multi", tuple(sorted(set(district_names().values())))
    if origin is Literal:
        return "choice", tuple(str(a) for a in typing.get_args(tp))
    if origin is list:
        inner, _ = _strip(typing.get_args(tp)[0])
        if typing.get_origin(inner) is Literal:
            return "multi", tuple(str(a) for a in typing.get_args(inner))
        if inner is str:
            return "list", ()
        return "json", ()
    if tp is AwareDatetime or tp is datetime:
        return "datetime", ()
    if tp is bool:
        return "bool", ()
    if tp is int:
        return "int", ()
    if tp is str:
        return ("textarea" if name in LONG_TEXT else "text"), ()
    return "json", ()


def form_fields(type_: str) -> list[FieldSpec]:
    model = PARAMS[type_]
    out = []
    for name, info in model.model_fields.items():
        kind, options = _kind(name, info.annotation)
        out.append(FieldSpec(name, kind, info.is_required(), options))
    return out


def to_form(type_: str, params: dict[str, Any], tz: str) -> dict[str, Any]:
    """Params (JSON) → what each widget shows; times in the local zone for datetime-local inputs."""
    values: dict[str, Any] = {}
    for f in form_fields(type_):
        v = params.get(f.name)
        if v is None:
            values[f.name] = [] if f.kind == "multi" else ""
        elif f.kind == "datetime":
            values[f.name] = datetime.fromisoformat(v).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")
        elif f.kind == "list":
            values[f.name] = ", ".join(v)
        elif f.kind == "json":
            values[f.name] = json.dumps(v, ensure_ascii=False)
        elif f.kind == "bool":
            values[f.name] = bool(v)
        else:
            values[f.name] = v
    return values


def from_form(type_: str, values: dict[str, Any], tz: str) -> dict[str, Any]:
    """Widget values → params for `validate_params`; a JSON field that does not parse is left as
    text, so validation names that field."""
    params: dict[str, Any] = {}
    for f in form_fields(type_):
        v = values.get(f.name)
        if v in (None, "", []) and f.kind != "bool":
            continue
        if f.kind == "datetime":
            try:
                params[f.name] = datetime.fromisoformat(v).replace(tzinfo=ZoneInfo(tz)).isoformat()
            except (TypeError, ValueError):
                params[f.name] = v
        elif f.kind == "list":
            params[f.name] = [p.strip() for p in str(v).split(",") if p.strip()]
        elif f.kind == "json":
            try:
                params[f.name] = json.loads(v)
            except (TypeError, ValueError):
                params[f.name] = v
        elif f.kind == "int":
            params[f.name] = v
        elif f.kind == "bool":
            params[f.name] = bool(v)
        else:
            params[f.name] = v
    return params
