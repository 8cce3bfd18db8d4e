"""The shared city map: offline by default, a tile server only when one is configured."""
from __future__ import annotations

import dash_leaflet as dl

from panels.components.citymap import CityMap


def _layers(component: object) -> list[object]:
    leaflet = next(c for c in component.children if isinstance(c, dl.Map))  # type: ignore[attr-defined]
    return list(leaflet.children)


def test_map_draws_district_boundaries_and_loads_no_tiles_by_default() -> None:
    layers = _layers(CityMap("m", center=(37.5, 127.0), snapshots={"traffic": {}, "air": {}}))

    assert not any(isinstance(layer, dl.TileLayer) for layer in layers)
    urls = [getattr(layer, "url", None) for layer in layers]
    assert "/geo/districts.json" in urls and "/geo/links.json" in urls and "/geo/air.json" in urls


def test_configured_tile_server_adds_a_tile_layer_under_the_boundaries() -> None:
    layers = _layers(CityMap("m", center=(37.5, 127.0), snapshots={}, tile_url="http://tiles.local/{z}/{x}/{y}.png"))

    assert isinstance(layers[0], dl.TileLayer) and layers[0].url == "http://tiles.local/{z}/{x}/{y}.png"


def test_map_renders_on_canvas() -> None:
    component = CityMap("m", center=(37.5, 127.0), snapshots={"traffic": {}})

    leaflet = next(c for c in component.children if isinstance(c, dl.Map))
    assert leaflet.preferCanvas is True
