"""A bus reroute as a GTFS-realtime Alert with effect DETOUR, for the bus operators' terminals.

Built with Google's `gtfs-realtime-bindings` protobuf classes, so the message is the real wire
format; the outbox stores its JSON form (protobuf's canonical JSON mapping) and the adapter sends
the serialised bytes.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as rt_pb


def _ts(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


def detour_feed(command_id: int, params: dict[str, Any], now: datetime | None = None) -> rt_pb.FeedMessage:
    feed = rt_pb.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.incrementality = rt_pb.FeedHeader.DIFFERENTIAL
    feed.header.timestamp = int((now or datetime.fromisoformat(params["start"])).timestamp())
    entity = feed.entity.add()
    entity.id = f"cityops-reroute-{command_id}"
    alert = entity.alert
    period = alert.active_period.add()
    period.start, period.end = _ts(params["start"]), _ts(params["end"])
    alert.informed_entity.add().route_id = params["route"]
    for stop in params.get("avoid_stops") or []:
        sel = alert.informed_entity.add()
        sel.route_id, sel.stop_id = params["route"], stop
    alert.cause = rt_pb.Alert.OTHER_CAUSE
    alert.effect = rt_pb.Alert.DETOUR
    stretch = ", ".join((params.get("avoid_links") or []) + (params.get("avoid_stops") or []))
    header = alert.header_text.translation.add()
    header.text, header.language = f"Route {params['route']} detour", "en"
    desc = alert.description_text.translation.add()
    desc.text = f"Avoiding {stretch}; detour via {' → '.join(params['detour'])}. Reason: {params['reason']}"
    desc.language = "en"
    return feed


def detour_alert(command_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """The feed as protobuf JSON (what the outbox stores)."""
    return json_format.MessageToDict(detour_feed(command_id, params), preserving_proto_field_name=True)


def to_bytes(feed_json: dict[str, Any]) -> bytes:
    return json_format.ParseDict(feed_json, rt_pb.FeedMessage()).SerializeToString()
