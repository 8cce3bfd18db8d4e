"""Static map geometry served from cached routes (``/geo/<layer>.json``).

Big GeoJSON (5,200 links, 1,100 sensors) stays out of callback JSON and Dash's layout: it is
serialised once per process, sent with an ETag, and cached by the browser, so a page reload or a
second wall costs a 304. Live classes travel separately (see `feeds.live_queries`).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from feeds.live_queries import layer_geojson
from feeds.traffic_queries import buses_geojson
from store.runtime import Runtime

geo = Blueprint("geo", __name__, url_prefix="/geo")
LAYERS = ("districts", "links", "air")


def _cached(rt: Runtime, layer: str) -> tuple[bytes, str]:
    key = f"{__name__}.{layer}"
    hit = rt.caches.get(key)
    if hit is None:
        body = json.dumps(layer_geojson(rt, layer), separators=(",", ":"), ensure_ascii=False).encode()
        hit = (body, hashlib.sha256(body).hexdigest()[:20])
        rt.caches[key] = hit
    return hit


@geo.get("/<layer>.json")
def layer_json(layer: str) -> Any:
    if layer == "buses":  # positions move: read fresh each time, never cached; live deltas move them after
        body = json.dumps(buses_geojson(current_app.extensions["cityops"]), separators=(",", ":")).encode()
        return Response(body, mimetype="application/geo+json", headers={"Cache-Control": "no-store"})
    if layer not in LAYERS:
        abort(404)
    body, etag = _cached(current_app.extensions["cityops"], layer)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    return Response(body, mimetype="application/geo+json",
                    headers={"ETag": f'"{etag}"', "Cache-Control": "private, max-age=3600"})
