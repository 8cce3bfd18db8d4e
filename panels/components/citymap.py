"""City map: district boundaries as the offline base layer (a tile server only when
``CITYOPS_TILE_URL`` is set), road links coloured by speed class, air sensors by CAI class, and an
alert-marker layer kept ready for the alerts package.

Built for Seoul scale (5,200 links, 1,100 sensors): the map renders on canvas (`preferCanvas`),
the static geometry comes from cached routes (``/geo/<layer>.json``) instead of callback JSON,
and the current classes travel separately as a compact `{id: [class, value, time]}` snapshot
(`feeds.live_queries.map_snapshot`). Live deltas restyle only the features that changed, in the
browser (``assets/cityops.js``): no layer is ever re-sent or rebuilt.
"""
from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import ALL, MATCH, Dash, Input, Output, State, dcc, html
from dash_extensions.javascript import Namespace

from store.i18n import both, t

ns = Namespace("cityops", "map")
GEO_URL = "/geo/{layer}.json"
STATE = "citymap-state"
SINK = "citymap-applied"  # written by the clientside callback: when each map last took a snapshot
SPEED_LEGEND = (("free", "━", "speed.free"), ("slow", "━━", "speed.slow"), ("congested", "▬▬", "speed.congested"),
                ("flagged", "┅", "status.flagged"))
AIR_LEGEND = (("good", "●", "cai.good"), ("moderate", "●", "cai.moderate"), ("unhealthy", "⬤", "cai.unhealthy"),
              ("very_unhealthy", "◉", "cai.very_unhealthy"), ("flagged", "◌", "status.flagged"))
BUS_LEGEND = (("bus", "•", "traffic.layer.buses"),)


def state_id(map_id: str, domain: str) -> dict[str, str]:
    return {"type": STATE, "index": map_id, "domain": domain}


def alerts_id(map_id: str) -> str:
    """The alert-marker layer of a map: a page writes GeoJSON points (``severity`` property) to its `data`."""
    return f"{map_id}-alerts"


def _legend(lang: str | None, wall: bool, sections: tuple[str, ...] = ("traffic", "air")) -> html.Div | None:
    word = (lambda k: both(k)) if wall else (lambda k: t(k, lang))
    rows = []
    if "traffic" in sections:
        rows += [html.Div(word("wall.legend.speed"), className="legend-title")]
        rows += [html.Div([html.Span(mark, className=f"legend-mark link-{cls}"), html.Span(word(key))], className="legend-row")
                 for cls, mark, key in SPEED_LEGEND]
    if "air" in sections:
        rows += [html.Div(word("wall.legend.cai"), className="legend-title")]
        rows += [html.Div([html.Span(mark, className=f"legend-mark air-{cls}"), html.Span(word(key))], className="legend-row")
                 for cls, mark, key in AIR_LEGEND]
    if "bus" in sections:
        rows += [html.Div([html.Span(mark, className=f"legend-mark {cls}-mark"), html.Span(word(key))], className="legend-row")
                 for cls, mark, key in BUS_LEGEND]
    return html.Div(rows, className="map-legend") if rows else None


def CityMap(map_id: str, *, center: tuple[float, float], snapshots: dict[str, dict[str, Any]],  # noqa: N802
            tile_url: str | None = None, zoom: float = 11, lang: str | None = "en", wall: bool = False,
            interactive: bool = True, alerts: dict[str, Any] | None = None, selectable: bool = False,
            legend: tuple[str, ...] = ("traffic", "air"), air_domain: str = "air",
            overlays: tuple[Any, ...] = ()) -> html.Div:
    """The map and one snapshot store per live layer (`snapshots`: domain → wire states).

    `selectable` makes links and sensors clickable (their layer's ``clickData`` carries the
    feature). `air_domain` names the state the sensor layer is drawn from: "air" is the wall's
    live class; a page may keep its own (the air page's per-pollutant classes). A ``"bus"``
    snapshot adds the bus layer (positions from ``/geo/buses.json``; live deltas move them).
    `legend` lists the legend's sections (traffic, air, bus); empty for none. `overlays` are
    layers a page draws on top (the traffic page's selected link).
    """
    layers: list[Any] = []
    if tile_url:
        layers.append(dl.TileLayer(url=tile_url, maxZoom=19))
    # The boundary layer fits the map to the city once loaded, at any screen size (1080p or 4K).
    layers.append(dl.GeoJSON(id=f"{map_id}-districts", url=GEO_URL.format(layer="districts"), style=ns("district"),
                             interactive=False, zoomToBounds=True))
    if "traffic" in snapshots:
        layers.append(dl.GeoJSON(id=f"{map_id}-links", url=GEO_URL.format(layer="links"), style=ns("linkStyle"),
                                 onEachFeature=ns("register"), hideout={"domain": "traffic"}, interactive=selectable))
    if "bus" in snapshots:
        layers.append(dl.GeoJSON(id=f"{map_id}-buses", url=GEO_URL.format(layer="buses"), pointToLayer=ns("busPoint"),
                                 onEachFeature=ns("register"), hideout={"domain": "bus"}, interactive=False))
    if air_domain in snapshots:
        layers.append(dl.GeoJSON(id=f"{map_id}-air", url=GEO_URL.format(layer="air"), pointToLayer=ns("airPoint"),
                                 onEachFeature=ns("register"), hideout={"domain": air_domain}, interactive=selectable))
    # Alert markers: the alerts package fills `data` (GeoJSON points with a `severity` property).
    layers.append(dl.GeoJSON(id=alerts_id(map_id), data=alerts or {"type": "FeatureCollection", "features": []},
                             pointToLayer=ns("alertPoint"), interactive=interactive))
    layers.extend(overlays)
    kiosk = {} if interactive else {"dragging": False, "scrollWheelZoom": False, "doubleClickZoom": False,
                                    "boxZoom": False, "keyboard": False, "touchZoom": False}
    return html.Div(className="citymap", children=[
        dl.Map(id=map_id, center=list(center), zoom=zoom, zoomSnap=0.25, preferCanvas=True, zoomControl=interactive,
               attributionControl=bool(tile_url), children=layers, className="citymap-leaflet", **kiosk),
        _legend(lang, wall, legend),
        *[dcc.Store(id=state_id(map_id, d), data=snap) for d, snap in snapshots.items()],
        dcc.Store(id={"type": SINK, "index": map_id}),
    ])


def register(app: Dash) -> None:
    app.clientside_callback(
        "window.dash_clientside.cityops.setState",  # restyles the map in place
        Output({"type": SINK, "index": MATCH}, "data"),
        Input({"type": STATE, "index": MATCH, "domain": ALL}, "data"),
        State({"type": STATE, "index": MATCH, "domain": ALL}, "id"),
    )

