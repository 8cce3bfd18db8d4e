"""Sign in and out. Programs get the same session cookie the pages use."""
from __future__ import annotations

import logging
from typing import Any

from flask import jsonify, session
from pydantic import BaseModel, Field

from dashboard.api import endpoint, parse_body, runtime
from store import accounts

log = logging.getLogger(__name__)


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    username: str
    role: str
    language: str


def start_session(username: str, role: str, language: str | None) -> dict[str, str]:
    """Put the signed-in user into the Flask session (shared by the API and the pages)."""
    rt = runtime()
    session.clear()
    session["username"] = username
    session["role"] = role
    session["language"] = language or rt.settings.language
    session.permanent = False
    return {"username": username, "role": role, "language": session["language"]}


@endpoint("/session", "POST", summary="Sign in; sets the session cookie", tag="session", body=SignIn,
          response=SessionOut, auth="none", responses={400: "malformed body", 401: "wrong username or password"})
def sign_in() -> Any:
    body: SignIn = parse_body(SignIn)
    rt = runtime()
    with rt.session() as s:
        try:
            user = accounts.authenticate(s, body.username, body.password)
        except Exception:
            log.warning("failed sign-in for %r", body.username)
            raise
        out = start_session(user.username, user.role, user.language)
    log.info("signed in: %s (%s)", out["username"], out["role"])
    return jsonify(out)


@endpoint("/session", "DELETE", summary="Sign out", tag="session", auth="none")
def sign_out() -> Any:
    session.clear()
    return jsonify({"status": "signed out"})


@endpoint("/session", "GET", summary="Who is signed in", tag="session", response=SessionOut)
def whoami() -> Any:
    from store.errors import NotAuthenticated

    if not session.get("username"):
        raise NotAuthenticated("not signed in")
    return jsonify({"username": session["username"], "role": session["role"], "language": session.get("language", "en")})
