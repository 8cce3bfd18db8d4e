"""Who may open /traffic and /air, checked by the server (Flask test client, no browser)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard.app import create_app
from store import accounts
from store.runtime import Runtime

PASSWORD = "correct-horse-9"


@pytest.fixture
def web(rt: Runtime) -> Iterator[object]:
    app = create_app(rt, start_relay=False)
    with rt.session() as s:
        for role in ("operator", "supervisor", "shift_lead", "admin", "wall"):
            accounts.add_user(s, f"u-{role}", PASSWORD, role, now=rt.clock.now())
    yield app
    from dash import _pages

    _pages.PAGE_REGISTRY.clear()


@pytest.mark.parametrize("path", ["/traffic", "/air"])
@pytest.mark.parametrize(("role", "status"), [("operator", 200), ("supervisor", 200), ("shift_lead", 200),
                                              ("admin", 200), ("wall", 403), (None, 302)])
def test_every_console_role_opens_the_page_and_the_wall_kiosk_is_refused(web: object, path: str, role: str | None,
                                                                         status: int) -> None:
    client = web.server.test_client()  # type: ignore[attr-defined]
    if role is not None:
        assert client.post("/api/v1/session", json={"username": f"u-{role}", "password": PASSWORD}).status_code == 200

    resp = client.get(path)

    assert resp.status_code == status
    if status == 302:
        assert "/login" in resp.headers["Location"]
