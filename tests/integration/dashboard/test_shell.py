"""The web shell through Flask's test client: sign-in, role checks on pages and callbacks, the
live relay, and the wall's read models. (The browser tests drive the same paths in Chromium.)"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dash import Input, Output

from dashboard.app import WebApp, create_app
from dashboard.auth import requires
from feeds import live_queries as q
from store import accounts
from store.clock import FakeClock
from store.runtime import Runtime

PASSWORD = "correct-horse-battery"


@pytest.fixture
def web(rt: Runtime) -> Iterator[WebApp]:
    with rt.session() as s:
        for role in ("operator", "supervisor", "wall"):
            accounts.add_user(s, role, PASSWORD, role, now=rt.clock.now())
    app = create_app(rt, start_relay=False)

    @app.dash.callback(Output("probe-out", "children"), Input("probe-in", "n_clicks"))
    @requires("commands.approve")
    def approve_probe(n: int | None) -> str:
        return "approved"

    @app.dash.callback(Output("console-out", "children"), Input("console-in", "n_clicks"))
    def undeclared(n: int | None) -> str:
        return "console"

    yield app
    app.close()
    from dash import _pages

    _pages.PAGE_REGISTRY.clear()


def signed_in(web: WebApp, role: str) -> Any:
    client = web.server.test_client()
    r = client.post("/login", data={"username": role, "password": PASSWORD})
    assert r.status_code == 302
    return client


def fire(client: Any, output: str, input_id: str) -> Any:
    body = {"output": output, "outputs": {"id": output.split(".")[0], "property": "children"},
            "inputs": [{"id": input_id, "property": "n_clicks", "value": 1}],
            "changedPropIds": [f"{input_id}.n_clicks"], "state": []}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def test_anonymous_page_request_is_sent_to_login(web: WebApp) -> None:
    r = web.server.test_client().get("/wall")

    assert r.status_code == 302
    assert r.headers["Location"] == "/login?next=/wall"


def test_anonymous_callback_is_refused(web: WebApp) -> None:
    r = fire(web.server.test_client(), "probe-out.children", "probe-in")

    assert r.status_code == 401


def test_wall_role_lands_on_the_wall(web: WebApp) -> None:
    client = web.server.test_client()

    r = client.post("/login", data={"username": "wall", "password": PASSWORD, "next": "/traffic"})

    assert r.headers["Location"] == "/wall"


def test_wall_role_is_refused_any_console_page(web: WebApp) -> None:
    client = signed_in(web, "wall")

    assert client.get("/wall").status_code == 200
    assert client.get("/traffic").status_code == 403
    assert client.get("/somewhere-else").status_code == 403


def test_operator_is_refused_a_supervisor_only_callback(web: WebApp) -> None:
    r = fire(signed_in(web, "operator"), "probe-out.children", "probe-in")

    assert r.status_code == 403
    assert r.get_json()["key"] == "forbidden"


def test_supervisor_may_run_the_supervisor_only_callback(web: WebApp) -> None:
    r = fire(signed_in(web, "supervisor"), "probe-out.children", "probe-in")

    assert r.status_code == 200
    assert "approved" in r.get_data(as_text=True)


def test_callback_without_a_declared_permission_is_console_only(web: WebApp) -> None:
    assert fire(signed_in(web, "wall"), "console-out.children", "console-in").status_code == 403
    assert fire(signed_in(web, "operator"), "console-out.children", "console-in").status_code == 200


def test_login_page_does_not_redirect_off_site(web: WebApp) -> None:
    r = web.server.test_client().post("/login", data={"username": "operator", "password": PASSWORD,
                                                      "next": "//evil.example/"})

    assert "evil" not in r.headers["Location"]


def test_language_choice_is_stored_for_the_user(web: WebApp, rt: Runtime) -> None:
    client = signed_in(web, "operator")

    client.get("/lang/ko")

    with rt.session() as s:
        assert accounts.authenticate(s, "operator", PASSWORD).language == "ko"
    assert client.get("/api/v1/session").get_json()["language"] == "ko"


def test_relay_sends_a_published_delta_to_sockets_in_its_room(web: WebApp, rt: Runtime) -> None:
    from dashboard.live import Relay, room

    flask_client = signed_in(web, "wall")
    sock = web.socketio.test_client(web.server, flask_test_client=flask_client)
    assert sock.is_connected()
    sid = sock.eio_sid
    web.socketio.server.enter_room(web.socketio.server.manager.sid_from_eio_sid(sid, "/"), room("air"), namespace="/")
    relay = Relay(rt, web.socketio, domains=("air",)).start()
    try:
        time.sleep(0.3)  # subscribed
        rt.redis.publish("air", {"domain": "air", "sent_at": 1.0, "changes": {
            "AQ-1": {"t": "2026-11-26T03:00:00+00:00", "v": {"pm25": 80.0}, "qa": {"pm25": "ok"}}}})
        received: list[Any] = []
        deadline = time.monotonic() + 3
        while not received and time.monotonic() < deadline:
            received = sock.get_received()
            time.sleep(0.05)
    finally:
        relay.close()

    assert received[0]["name"] == "delta-air"
    assert received[0]["args"][0]["changes"] == {"AQ-1": ["very_unhealthy", 80.0]}


def test_anonymous_socket_is_refused(web: WebApp) -> None:
    sock = web.socketio.test_client(web.server, flask_test_client=web.server.test_client())

    assert not sock.is_connected()


def test_wall_figures_leave_flagged_values_out(rt: Runtime) -> None:
    rt.redis.set_latest("air", {
        "A1": {"t": "2026-11-26T03:00:00+00:00", "v": {"pm25": 20.0}, "qa": {"pm25": "ok"}, "d": "Jongno-gu"},
        "A2": {"t": "2026-11-26T03:00:00+00:00", "v": {"pm25": 40.0}, "qa": {"pm25": "ok"}, "d": "Mapo-gu"},
        "A3": {"t": "2026-11-26T03:00:00+00:00", "v": {"pm25": 900.0}, "qa": {"pm25": "flagged"}, "d": "Mapo-gu"},
    })

    air = q.air_kpis(rt)

    assert air.pm25_now == 30.0
    assert air.sensors_reporting == 2 and air.excluded == 1


def test_feed_status_turns_stale_when_the_clock_passes_two_intervals(rt: Runtime, clock: FakeClock) -> None:
    rt.redis.touch_feed("traffic", at=clock.now().timestamp())

    fresh = q.feed_status(rt, ("traffic",))["traffic"]
    clock.advance(2 * rt.settings.sim_interval_s + 1)
    stale = q.feed_status(rt, ("traffic",))["traffic"]

    assert not fresh["stale"] and stale["stale"]


def test_a_feed_turns_stale_after_two_of_its_own_sensors_intervals(rt: Runtime, clock: FakeClock) -> None:
    from feeds.sensors import register_sensor

    for i in range(3):
        register_sensor(rt, f"AQ-T{i}", kind="air", lat=37.56, lon=126.98, district="Jung-gu",
                        quantities={"pm25": "ug/m3"}, interval_s=120)
        register_sensor(rt, f"DT-T{i}", kind="detector", lat=37.56, lon=126.98, district="Jung-gu",
                        quantities={"speed_kmh": "km/h"}, interval_s=10)
    for domain in ("traffic", "air"):
        rt.redis.touch_feed(domain, at=clock.now().timestamp())

    clock.advance(60)  # six 10 s intervals, half of one 120 s interval
    early = q.feed_status(rt, ("traffic", "air"))
    clock.advance(181)  # 241 s: two air intervals missed
    late = q.feed_status(rt, ("traffic", "air"))

    assert early["traffic"]["stale"] and early["traffic"]["interval"] == 10
    assert not early["air"]["stale"] and early["air"]["interval"] == 120
    assert late["air"]["stale"]


def test_a_new_registration_changes_the_feeds_interval_at_the_next_poll(rt: Runtime, clock: FakeClock) -> None:
    from feeds.sensors import register_sensor

    register_sensor(rt, "AQ-U0", kind="air", lat=37.56, lon=126.98, district="Jung-gu", quantities={"pm25": "ug/m3"},
                    interval_s=120)
    before = q.feed_status(rt, ("air",))["air"]["interval"]
    for i in (1, 2):
        register_sensor(rt, f"AQ-U{i}", kind="air", lat=37.56, lon=126.98, district="Jung-gu",
                        quantities={"pm25": "ug/m3"}, interval_s=600)
    after = q.feed_status(rt, ("air",))["air"]["interval"]

    assert (before, after) == (120, 600)


def test_every_console_page_joins_the_alerts_room_and_the_wall_only_its_own(web: WebApp) -> None:
    from dashboard.live import rooms_for

    assert rooms_for("operator", "/traffic") == ("traffic", "bus", "alerts")
    assert all("alerts" in rooms_for(role, "/reports") for role in ("operator", "supervisor", "shift_lead", "admin"))
    assert rooms_for("operator", "/alerts").count("alerts") == 1
    assert rooms_for("wall", "/traffic") == ("traffic", "bus")
    assert rooms_for("wall", "/nowhere") == ()


def test_relay_survives_a_delta_it_cannot_read(web: WebApp, rt: Runtime) -> None:
    from dashboard.live import Relay

    relay = Relay(rt, web.socketio, domains=("air",)).start()
    try:
        time.sleep(0.3)
        rt.redis.client.publish(rt.redis.keys.channel("air"), "not json")
        rt.redis.publish("air", {"domain": "air", "sent_at": 1.0, "changes": {"AQ-1": "not a state"}})
        rt.redis.publish("air", {"domain": "air", "sent_at": 2.0, "changes": {
            "AQ-1": {"t": "2026-11-26T03:00:00+00:00", "v": {"pm25": 8.0}, "qa": {"pm25": "ok"}}}})
        deadline = time.monotonic() + 3
        while relay.relayed < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        relay.close()

    assert relay.relayed == 1  # the good delta after two bad ones still went out
