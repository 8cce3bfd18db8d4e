"""CAP 1.2: every message we write validates; real files import; hostile and old ones are refused."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from actuation import cap
from actuation.commands import CHANNELS, district_names, validate_params
from actuation.samples import example_params
from store.errors import TooLarge, ValidationError

NOW = datetime(2026, 11, 26, 7, 40, tzinfo=UTC)
CAP_DIR = Path(__file__).resolve().parents[3] / "data" / "cap"
CAP12_FILES = sorted(CAP_DIR.glob("*_cap12.xml"))
NS = {"c": cap.CAP12}


def test_rendered_alert_validates_and_uses_local_offsets() -> None:
    xml = cap.render(12, validate_params("emergency_alert", example_params("emergency_alert", NOW)), NOW)

    assert cap.schema_errors(xml) == []
    root = etree.fromstring(xml)
    assert root.findtext("c:sent", namespaces=NS) == "2026-11-26T16:40:00+09:00"
    assert [i.findtext("c:language", namespaces=NS) for i in root.findall("c:info", NS)] == ["ko-KR", "en-US"]
    assert root.findtext("c:info/c:area/c:geocode/c:value", namespaces=NS) == "11010"  # Jongno-gu in the pack


def test_utc_is_written_minus_zero_as_cap_requires() -> None:
    assert cap.cap_datetime(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "UTC") == "2026-01-02T03:04:05-00:00"


def test_update_references_the_original_message() -> None:
    params = example_params("emergency_alert", NOW) | {"msg_type": "Cancel", "references": [12]}
    ref = cap.Reference(cap.SENDER, cap.identifier(12), NOW - timedelta(minutes=30))

    xml = cap.render(13, validate_params("emergency_alert", params), NOW, references=[ref])

    assert cap.schema_errors(xml) == []
    root = etree.fromstring(xml)
    assert root.findtext("c:msgType", namespaces=NS) == "Cancel"
    assert root.findtext("c:references", namespaces=NS) == "cityops@seoul.go.kr,KR.SEOUL.CITYOPS.12,2026-11-26T16:10:00+09:00"


def test_update_without_reference_is_refused() -> None:
    params = validate_params("emergency_alert", example_params("emergency_alert", NOW) | {"msg_type": "Update", "references": [3]})

    with pytest.raises(ValidationError):
        cap.render(13, params, NOW, references=[])


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(str.strip)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    headline=texts, description=texts, instruction=st.text(max_size=40).filter(lambda s: "\x00" not in s and all(c >= " " or c in "\n\t" for c in s)),
    urgency=st.sampled_from(["Immediate", "Expected", "Future", "Past", "Unknown"]),
    severity=st.sampled_from(["Extreme", "Severe", "Moderate", "Minor", "Unknown"]),
    category=st.lists(st.sampled_from(["Geo", "Met", "Safety", "Fire", "CBRNE", "Other"]), min_size=1, max_size=3),
    districts=st.lists(st.sampled_from(sorted(set(district_names().values()))), max_size=4, unique=True),
    use_polygon=st.booleans(), channels=st.lists(st.sampled_from(CHANNELS), min_size=1, unique=True),
    offset_min=st.integers(min_value=0, max_value=60 * 24 * 365), micro=st.integers(0, 999_999),
    tz=st.sampled_from(["Asia/Seoul", "UTC", "America/St_Johns", "Asia/Kathmandu"]),
)
def test_every_generated_alert_validates_against_the_xsd(headline, description, instruction, urgency, severity, category,
                                                          districts, use_polygon, channels, offset_min, micro, tz) -> None:
    start = NOW + timedelta(minutes=offset_min, microseconds=micro)
    polygon = [[37.5, 126.9], [37.6, 126.9], [37.6, 127.0], [37.5, 126.9]] if use_polygon or not districts else None
    params = validate_params("emergency_alert", {
        "event": headline, "category": category, "urgency": urgency, "severity": severity, "certainty": "Likely",
        "headline_ko": headline, "headline_en": headline, "description_ko": description, "description_en": description,
        "instruction_ko": instruction, "instruction_en": instruction, "districts": districts, "polygon": polygon,
        "effective": start.isoformat(), "expires": (start + timedelta(hours=1)).isoformat(), "channels": channels})

    xml = cap.render(1, params, start, tz=tz)

    assert cap.schema_errors(xml) == []


@pytest.mark.parametrize("path", CAP12_FILES, ids=lambda p: p.name)
def test_real_cap12_samples_parse_into_a_prefilled_form(path: Path) -> None:
    draft = cap.parse(path.read_bytes(), NOW)

    p = draft["params"]
    assert draft["type"] == "emergency_alert"
    assert p["event"] and p["headline_en"] and p["description_en"] and p["headline_ko"]
    assert p["urgency"] in {"Immediate", "Expected", "Future", "Past", "Unknown"}
    assert p["effective"] == NOW.isoformat()
    if p["polygon"]:
        assert validate_params("emergency_alert", p)  # postable as it is
    else:
        assert any("choose districts" in n for n in draft["notes"])


def test_cap11_file_is_refused_by_version() -> None:
    with pytest.raises(ValidationError) as err:
        cap.parse((CAP_DIR / "nws_flash_flood_watch_20100830_cap11.xml").read_bytes(), NOW)

    assert err.value.key == "cap_version"


def test_atom_feed_is_not_a_cap_alert() -> None:
    with pytest.raises(ValidationError) as err:
        cap.parse((CAP_DIR / "nws_atom_index_feed_20180815_cap11.xml").read_bytes(), NOW)

    assert err.value.key == "cap_not_cap"


XXE = b"""<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&c;</note></alert>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://example.com/cap.dtd"><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"""


@pytest.mark.parametrize("data", [XXE, LAUGHS, DTD_ONLY], ids=["external-entity", "billion-laughs", "external-dtd"])
def test_hostile_xml_is_refused(data: bytes) -> None:
    with pytest.raises(ValidationError) as err:
        cap.parse(data, NOW)

    assert err.value.key == "cap_hostile"


@pytest.mark.parametrize("data", [b"", b"not xml at all", b"<alert><unclosed></alert>", "{\"json\": 1}".encode()])
def test_not_xml_is_refused(data: bytes) -> None:
    with pytest.raises(ValidationError) as err:
        cap.parse(data, NOW)

    assert err.value.key == "cap_not_xml"


def test_schema_invalid_cap12_is_refused_with_details() -> None:
    data = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>'

    with pytest.raises(ValidationError) as err:
        cap.parse(data, NOW)

    assert err.value.key == "cap_invalid" and err.value.details


def test_oversized_file_is_refused() -> None:
    with pytest.raises(TooLarge):
        cap.parse(b" " * (cap.MAX_BYTES + 1), NOW)
