"""The Alerts page's "Propose command" and the Commands page it opens, through Flask's test
client: the link carries the alert and type, the form starts aimed at the alert's district, the
cause is named on screen, and a role that may not propose is refused by the server."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import flask
import pytest

from alerts import service as alerts
from alerts.rules import Candidate, Place
from dashboard.app import WebApp, create_app
from panels import commands as page
from store import accounts
from store.runtime import Runtime

PASSWORD = "correct-horse-battery"


@pytest.fixture
def web(rt: Runtime) -> Iterator[WebApp]:
    with rt.session() as s:
        for role in ("operator", "admin"):
            accounts.add_user(s, role, PASSWORD, role, now=rt.clock.now())
    app = create_app(rt, start_relay=False)
    yield app
    app.close()
    from dash import _pages

    _pages.PAGE_REGISTRY.clear()


def raise_alert(rt: Runtime) -> int:
    raised = alerts.raise_candidates(rt, [Candidate("fire_smoke", "critical", "cctv", "cam-9", "Mangwon market",
                                                    rt.clock.now(), Place("Mapo-gu", 37.556, 126.906))])
    return int(raised[0]["id"])


def signed_in(web: WebApp, role: str) -> Any:
    client = web.server.test_client()
    assert client.post("/login", data={"username": role, "password": PASSWORD}).status_code == 302
    return client


def click_propose(client: Any, web: WebApp, alert_id: int | None, type_: str) -> Any:
    key = next(k for k in web.dash.callback_map if "alerts-goto.href" in k)
    outputs = []
    for part in key.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})
    body = {"output": key, "outputs": outputs, "inputs": [{"id": "alerts-propose", "property": "n_clicks", "value": 1}],
            "state": [{"id": "alerts-selected", "property": "data", "value": alert_id},
                      {"id": "alerts-propose-type", "property": "value", "value": type_}],
            "changedPropIds": ["alerts-propose.n_clicks"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def find(component: Any, cid: Any) -> Any:
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            hit = find(child, cid)
            if hit is not None:
                return hit
    return None


def test_propose_leads_to_the_commands_page_with_the_alert_and_type(rt: Runtime, web: WebApp) -> None:
    alert_id = raise_alert(rt)

    r = click_propose(signed_in(web, "operator"), web, alert_id, "gas_shutoff")

    assert r.status_code == 200
    assert r.get_json()["response"]["alerts-goto"]["href"] == f"/commands?alert={alert_id}&type=gas_shutoff"


def test_propose_without_a_selected_alert_asks_for_one(web: WebApp) -> None:
    r = click_propose(signed_in(web, "operator"), web, None, "bus_reroute")

    assert r.status_code == 200 and "alerts-goto" not in r.get_json()["response"]


def test_a_role_that_may_not_propose_is_refused_by_the_server(rt: Runtime, web: WebApp) -> None:
    r = click_propose(signed_in(web, "admin"), web, raise_alert(rt), "bus_reroute")

    assert r.status_code == 403 and r.get_json()["key"] == "forbidden"


def test_commands_page_starts_aimed_at_the_alert(rt: Runtime, web: WebApp) -> None:
    alert_id = raise_alert(rt)

    with web.server.test_request_context("/commands"):
        flask.session.update(username="operator", role="operator")
        div = page.layout(alert=str(alert_id), type="gas_shutoff")

    assert find(div, page.TYPE).value == "gas_shutoff"
    assert find(div, {"type": page.FIELD, "index": "zone"}).value == "Mapo-gu"
    assert find(div, {"type": page.FIELD, "index": "reason"}).value.startswith(f"alert {alert_id}: fire_smoke")
    assert find(div, page.CAUSE).data["alert_id"] == alert_id
    assert f"Proposed from alert {alert_id}" in find(div, page.CAUSE_NOTE).children


def test_commands_page_with_an_unknown_alert_links_nothing_and_says_so(web: WebApp) -> None:
    with web.server.test_request_context("/commands"):
        flask.session.update(username="operator", role="operator", language="ko")
        div = page.layout(alert="424242", type="bus_reroute")

    assert find(div, page.CAUSE).data is None
    assert "경보 424242" in find(div, page.CAUSE_NOTE).children
    assert find(div, page.TYPE).value == "bus_reroute"
