"""A Flask test client signed in with a given role, for the REST API tests of every area."""
from __future__ import annotations

from flask.testing import FlaskClient

from dashboard.app import create_server
from store import accounts
from store.runtime import Runtime

PASSWORD = "correct-horse-9"


def client_as(rt: Runtime, role: str | None, name: str | None = None) -> FlaskClient:
    """A client of a fresh server on `rt`; signed in as a new user of `role` unless role is None."""
    client = create_server(rt).test_client()
    if role is not None:
        name = name or f"u-{role}"
        with rt.session() as s:
            accounts.add_user(s, name, PASSWORD, role, now=rt.clock.now())
        assert client.post("/api/v1/session", json={"username": name, "password": PASSWORD}).status_code == 200
    return client


def clients_for(rt: Runtime, users: dict[str, str]) -> dict[str, FlaskClient]:
    """One signed-in client per user (name → role) on one server, for multi-user scenarios."""
    with rt.session() as s:
        for name, role in users.items():
            accounts.add_user(s, name, "password-" + name, role, now=rt.clock.now())
    server = create_server(rt)
    out = {}
    for name in users:
        c = server.test_client()
        assert c.post("/api/v1/session", json={"username": name, "password": "password-" + name}).status_code == 200
        out[name] = c
    out["anon"] = server.test_client()
    return out
