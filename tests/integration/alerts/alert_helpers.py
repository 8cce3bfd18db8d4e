"""Helpers of the alerts integration tests (imported as ``from alert_helpers import ...``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any


def air_obs(sensor: str, at: datetime, pm25: float) -> dict[str, Any]:
    """One air observation with PM2.5 at `pm25` and the other CAI pollutants at clean levels."""
    return {"sensor_id": sensor, "time": at.isoformat(), "values": {"pm25": pm25, "pm10": 30.0, "o3": 0.02, "no2": 0.02}}
