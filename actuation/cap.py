"""CAP 1.2 (OASIS Common Alerting Protocol) for emergency alerts: render, validate, import.

Rendering follows the spec's rules the schema cannot all check: date-times carry a numeric
offset and no fractional seconds (``2026-11-26T16:40:00+09:00``); alphabetic zones such as "Z"
are never used and UTC is written "-00:00", as CAP 1.2 §3.3.2 requires; `identifier` holds none
of space, comma, "<" or "&"; an Update or Cancel lists the original messages in `references` as
``sender,identifier,sent`` triples separated by spaces. One `info` block per language (ko-KR,
en-US).

Import is hostile-input code: a size cap, no DTD at all (so no entity expansion and no external
entities), no network, then the namespace decides (CAP 1.1 and other documents get a clear
refusal), then the OASIS schema. The result is a draft `emergency_alert` command whose params
`actuation.commands.validate_params` accepts, so it can be posted back as it is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException
from lxml import etree

from store.errors import TooLarge, ValidationError

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP10 = "http://www.incident.com/cap/1.0"
XSD = Path(__file__).resolve().parents[1] / "data" / "cap" / "CAP-v1.2.xsd"
SENDER = "cityops@seoul.go.kr"
MAX_BYTES = 1_000_000
DEFAULT_CHANNELS = ["cell_broadcast", "app_push", "wall_display"]


@dataclass(frozen=True)
class Reference:
    """An earlier message this one updates or cancels."""

    sender: str
    identifier: str
    sent: datetime


def cap_datetime(dt: datetime, tz: str) -> str:
    """CAP 1.2 date-time: local time with a numeric offset, no fraction; UTC as ``-00:00``."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    local = dt.astimezone(ZoneInfo(tz)).replace(microsecond=0)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes <= 0 else "+"  # zero offset is written -00:00 (CAP 1.2 §3.3.2)
    minutes = abs(minutes)
    return f"{local:%Y-%m-%dT%H:%M:%S}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def identifier(command_id: int) -> str:
    return f"KR.SEOUL.CITYOPS.{command_id}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP12}}}{tag}")
    if text is not None:
        el.text = text
    return el


def render(command_id: int, params: dict[str, Any], sent: datetime, *, tz: str = "Asia/Seoul",
           references: list[Reference] = (), status: str = "Actual") -> bytes:  # type: ignore[assignment]
    """The CAP 1.2 XML of an emergency_alert command (params as validated by actuation.commands)."""
    from actuation.commands import EmergencyAlert
    from feeds.citypack import seoul_districts

    p = EmergencyAlert.model_validate(params)
    msg_type = p.msg_type
    if msg_type != "Alert" and not references:
        raise ValidationError(f"an {msg_type} must reference the message(s) it changes")
    root = etree.Element(f"{{{CAP12}}}alert", nsmap={None: CAP12})
    _sub(root, "identifier", identifier(command_id))
    _sub(root, "sender", SENDER)
    _sub(root, "sent", cap_datetime(sent, tz))
    _sub(root, "status", status)
    _sub(root, "msgType", msg_type)
    _sub(root, "scope", "Public")
    if references:
        _sub(root, "references", " ".join(f"{r.sender},{r.identifier},{cap_datetime(r.sent, tz)}" for r in references))
    by_name = {d.name_en: d for d in seoul_districts()}
    for lang, suffix in (("ko-KR", "ko"), ("en-US", "en")):
        info = _sub(root, "info")
        _sub(info, "language", lang)
        for c in p.category:
            _sub(info, "category", c)
        _sub(info, "event", p.event)
        for r in p.response_type:
            _sub(info, "responseType", r)
        _sub(info, "urgency", p.urgency)
        _sub(info, "severity", p.severity)
        _sub(info, "certainty", p.certainty)
        _sub(info, "effective", cap_datetime(p.effective, tz))
        _sub(info, "expires", cap_datetime(p.expires, tz))
        _sub(info, "senderName", "서울특별시 도시통합관제센터" if suffix == "ko" else "Seoul City Operations Centre")
        _sub(info, "headline", getattr(p, f"headline_{suffix}"))
        _sub(info, "description", getattr(p, f"description_{suffix}"))
        instruction = getattr(p, f"instruction_{suffix}")
        if instruction:
            _sub(info, "instruction", instruction)
        area = _sub(info, "area")
        names = [by_name[d].name_ko if suffix == "ko" else d for d in p.districts]
        _sub(area, "areaDesc", p.area_desc or ", ".join(names) or ("지정 구역" if suffix == "ko" else "Designated area"))
        if p.polygon:
            _sub(area, "polygon", " ".join(f"{lat:.5f},{lon:.5f}" for lat, lon in p.polygon))
        for d in p.districts:
            geo = _sub(area, "geocode")
            _sub(geo, "valueName", "KR-ADM-SIGUNGU")
            _sub(geo, "value", by_name[d].code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@cache
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(XSD), parser))


def schema_errors(xml: bytes) -> list[str]:
    """Problems against the OASIS CAP 1.2 schema; empty when valid."""
    doc = _safe_lxml(xml)
    s = schema()
    if s.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in s.error_log][:10]


# -- import -----------------------------------------------------------------------------------
def _safe_lxml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValidationError(f"not well-formed XML: {exc}", key="cap_not_xml") from None


def _screen(data: bytes) -> None:
    """Refuse what a safe CAP file never contains: a DTD, entity declarations, external references."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"a CAP file is at most {MAX_BYTES // 1000} kB")
    if not data.strip():
        raise ValidationError("the CAP file is empty", key="cap_not_xml")
    try:
        safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValidationError(f"refused: the XML declares a DTD or entities ({type(exc).__name__}); CAP needs neither",
                              key="cap_hostile") from None
    except safe_et.ParseError as exc:
        raise ValidationError(f"not well-formed XML: {exc}", key="cap_not_xml") from None


def _t(el: etree._Element, tag: str) -> str:
    return (el.findtext(f"{{{CAP12}}}{tag}") or "").strip()


def _all(el: etree._Element, tag: str) -> list[str]:
    return [(x.text or "").strip() for x in el.findall(f"{{{CAP12}}}{tag}") if (x.text or "").strip()]


def _parse_dt(text: str) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else None


def _circle_ring(text: str, n: int = 24) -> list[tuple[float, float]]:
    """A CAP circle ("lat,lon radius_km") as a closed n-gon, so the draft has a drawable area."""
    centre, radius = text.split()
    lat, lon = (float(v) for v in centre.split(","))
    r = float(radius)
    ring = [(round(lat + (r / 111.32) * math.sin(2 * math.pi * i / n), 5),
             round(lon + (r / (111.32 * max(math.cos(math.radians(lat)), 0.01))) * math.cos(2 * math.pi * i / n), 5))
            for i in range(n)]
    return [*ring, ring[0]]


def _polygon(info: etree._Element) -> list[tuple[float, float]] | None:
    for area in info.findall(f"{{{CAP12}}}area"):
        for poly in _all(area, "polygon"):
            try:
                pts = [tuple(float(v) for v in pair.split(",")) for pair in poly.split()]
            except ValueError:
                continue
            if len(pts) >= 4 and all(len(p) == 2 for p in pts):
                ring = [(p[0], p[1]) for p in pts]
                if ring[0] != ring[-1]:
                    ring.append(ring[0])
                return ring
        for circle in _all(area, "circle"):
            try:
                return _circle_ring(circle)
            except ValueError:
                continue
    return None


def parse(data: bytes, now: datetime) -> dict[str, Any]:
    """A CAP 1.2 file → ``{"type": "emergency_alert", "params": {...}, "notes": [...]}``.

    The draft starts a NEW alert: times are moved so it is effective now and lasts as long as the
    original; texts missing in one language are copied from the other and a note says so.
    """
    _screen(data)
    root = _safe_lxml(data)
    ns = etree.QName(root).namespace
    if ns in (CAP11, CAP10):
        raise ValidationError(f"this is CAP {'1.1' if ns == CAP11 else '1.0'}; only CAP 1.2 ({CAP12}) is accepted",
                              key="cap_version")
    if ns != CAP12 or etree.QName(root).localname != "alert":
        raise ValidationError(f"not a CAP 1.2 alert (root element {root.tag!r})", key="cap_not_cap")
    errors = schema_errors(data)
    if errors:
        raise ValidationError("the file does not validate against the CAP 1.2 schema", key="cap_invalid", details=errors)
    infos = root.findall(f"{{{CAP12}}}info")
    if not infos:
        raise ValidationError("the alert has no info block to start from", key="cap_invalid")
    by_lang = {(_t(i, "language") or "en-US").lower(): i for i in infos}
    en = next((i for lang, i in by_lang.items() if lang.startswith("en")), infos[0])
    ko = next((i for lang, i in by_lang.items() if lang.startswith("ko")), None)
    notes: list[str] = []
    if ko is None:
        notes.append("no Korean text in the file: the Korean fields hold the original text; translate them before proposing")
        ko = en
    if _t(en, "language") and not _t(en, "language").lower().startswith("en"):
        notes.append(f"no English text in the file: the English fields hold the {_t(en, 'language')} text")

    def texts(info: etree._Element) -> dict[str, str]:
        headline = _t(info, "headline") or _t(info, "event")
        return {"headline": headline[:200], "description": (_t(info, "description") or headline)[:2000],
                "instruction": _t(info, "instruction")[:2000]}

    t_en, t_ko = texts(en), texts(ko)
    sent = _parse_dt(_t(root, "sent")) or now
    effective = _parse_dt(_t(en, "effective")) or _parse_dt(_t(en, "onset")) or sent
    expires = _parse_dt(_t(en, "expires"))
    duration = (expires - effective) if expires and expires > effective else timedelta(hours=6)
    duration = min(duration, timedelta(days=7))
    notes.append(f"times moved to now: the original was effective {effective.isoformat()} for {duration}")
    polygon = _polygon(en)
    area_desc = "; ".join(_t(a, "areaDesc") for a in en.findall(f"{{{CAP12}}}area"))[:500]
    if polygon is None:
        notes.append("the file's area has no polygon or circle: choose districts before proposing")
    params: dict[str, Any] = {
        "event": _t(en, "event")[:200] or "Alert",
        "category": _all(en, "category") or ["Other"],
        "urgency": _t(en, "urgency"), "severity": _t(en, "severity"), "certainty": _t(en, "certainty"),
        "response_type": _all(en, "responseType"),
        "headline_ko": t_ko["headline"], "headline_en": t_en["headline"],
        "description_ko": t_ko["description"], "description_en": t_en["description"],
        "instruction_ko": t_ko["instruction"], "instruction_en": t_en["instruction"],
        "districts": [], "polygon": polygon, "area_desc": area_desc,
        "effective": now.replace(microsecond=0).isoformat(),
        "expires": (now.replace(microsecond=0) + duration).isoformat(),
        "channels": list(DEFAULT_CHANNELS),
        "msg_type": "Alert", "references": [],
    }
    return {"type": "emergency_alert", "params": params, "notes": notes,
            "source": {"identifier": _t(root, "identifier"), "sender": _t(root, "sender"), "sent": _t(root, "sent")}}
