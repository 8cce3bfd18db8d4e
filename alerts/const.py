"""Names of the alerts domain: categories, severities, states, verdicts, stream and group names.

Thresholds are not here: they live in ``rules.yaml`` so an administrator can read and change
them without a release. This module holds only the words the code and the rules file share.
"""
from __future__ import annotations

# The 14 categories the city's AI cameras raise (metadata only, never video).
CCTV_CATEGORIES: tuple[str, ...] = (
    "traffic_accident",
    "illegal_parking",
    "abandoned_object",
    "crowd_density",
    "fire_smoke",
    "pedestrian_fall",
    "wrong_way_vehicle",
    "aggressive_behaviour",
    "loitering",
    "intrusion",
    "illegal_dumping",
    "jaywalking",
    "stopped_vehicle",
    "flooding",
)

# Categories raised by the sensor rules.
TRAFFIC_INCIDENT = "traffic_incident"
AIR_QUALITY = "air_quality"
WATER_LEAK = "water_leak"
GAS_LEAK = "gas_leak"
SEWER_FLOOD = "sewer_flood"
BRIDGE_VIBRATION = "bridge_vibration"
MAINTENANCE = "maintenance"  # data health: silent or drifting sensor; never an emergency

SENSOR_CATEGORIES: tuple[str, ...] = (TRAFFIC_INCIDENT, AIR_QUALITY, WATER_LEAK, GAS_LEAK, SEWER_FLOOD,
                                      BRIDGE_VIBRATION, MAINTENANCE)
CATEGORIES: tuple[str, ...] = CCTV_CATEGORIES + SENSOR_CATEGORIES

SEVERITIES: tuple[str, ...] = ("info", "minor", "major", "critical")  # ascending
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES: tuple[str, ...] = (OPEN, ACKNOWLEDGED, RESOLVED)

TRUE_POSITIVE, FALSE_POSITIVE = "true_positive", "false_positive"
VERDICTS: tuple[str, ...] = (TRUE_POSITIVE, FALSE_POSITIVE)

INCIDENT_STATES: tuple[str, ...] = ("open", "resolved")

# Streams the worker consumes (feeds' domain streams plus the camera analytics stream).
SOURCE_DOMAINS: tuple[str, ...] = ("traffic", "air", "infra", "cctv")
CONSUMER_GROUP = "alerts"
CHANNEL = "alerts"  # live deltas: rt.redis.publish("alerts", ...)
SYSTEM_ACTOR = "system:alerts"  # who opened/folded/escalated in the audit log

MAX_COMMENT = 2000
