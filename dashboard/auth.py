"""Sign-in for the pages and the server-side role checks of every page and Dash callback.

The login form writes the same Flask session as ``POST /api/v1/session``, so a program and a
person share one mechanism. Roles are checked on the server, three times over:

- a page request (``GET /traffic``) from a role without the page's permission gets 403;
- a page's layout function is wrapped by `guarded()`, so the Dash router refuses it too;
- every ``/_dash-update-component`` request is checked against the callback's permission,
  declared with `@requires(permission)`; a callback that declares none needs ``view.console``,
  so the wall kiosk can fire only the callbacks marked for it. `requires` also checks inside the
  function, so the rule holds even if the request hook were bypassed.

Hiding a control is a courtesy; these checks are the rule.
"""
from __future__ import annotations

import functools
import html as html_escape
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from dash import html
from flask import Flask, jsonify, redirect, request, session
from werkzeug.wrappers import Response

from dashboard import roles
from store import accounts
from store.errors import CityOpsError, NotAuthenticated, NotAuthorized
from store.i18n import LANGUAGES, both, t
from store.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_CALLBACK_PERMISSION = "view.console"
PERMISSION_ATTR = "cityops_permission"
# Routes that never need a session (the login page itself, health, the API's own auth).
OPEN_PREFIXES = ("/login", "/healthz", "/readyz", "/metrics", "/api/", "/assets/", "/_dash-component-suites/",
                 "/_favicon", "/favicon.ico", "/_reload-hash")
DASH_PREFIX = "/_dash-"
SOCKET_PREFIX = "/socket.io"
PAGES_ROUTER_OUTPUT = "_pages_content"


def role() -> str | None:
    return session.get("role")


def lang() -> str:
    """The signed-in user's language, else the query's ``?lang=``, else English."""
    chosen = session.get("language") or request.args.get("lang")
    return chosen if chosen in LANGUAGES else "en"


def landing(user_role: str | None) -> str:
    """Where a role lands after sign-in: the wall kiosk on /wall, the others on their console."""
    if user_role == "wall":
        return "/wall"
    from dash import page_registry

    for page in page_registry.values():
        if page.get("console_home") and roles.allowed(user_role, page.get("permission", "view.console")):
            return page["path"]
    return "/wall"


# -- callbacks and layouts ----------------------------------------------------------------
def requires(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a Dash callback with the permission it needs and check it when it runs.

    Put it under ``@app.callback(...)``. An unauthorised call raises `NotAuthorized`, which the
    server answers with 403 JSON; the browser shows nothing changed.
    """
    if permission not in roles.PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not session.get("username"):
                raise NotAuthenticated("sign in first")
            roles.check(role(), permission)
            return fn(*args, **kwargs)

        setattr(wrapper, PERMISSION_ATTR, permission)
        return wrapper

    return decorate


def refusal(key: str = "shell.forbidden") -> html.Div:
    return html.Div(t(key, lang()), className="refusal", role="alert")


def guarded(permission: str, layout: Callable[..., Any]) -> Callable[..., Any]:
    """A page layout that draws only for roles holding `permission` (checked on the server)."""

    @functools.wraps(layout)
    def page(**kwargs: Any) -> Any:
        if not roles.allowed(role(), permission):
            log.warning("page refused: %s (%s) -> %s", session.get("username"), role(), layout.__module__)
            return refusal()
        return layout(**kwargs)

    setattr(page, PERMISSION_ATTR, permission)
    return page


# -- the login page -----------------------------------------------------------------------
LOGIN_HTML = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/theme.css"></head>
<body class="login-body"><main class="login-card">
<h1>{app}</h1>
{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="username">{user_label}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{password_label}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="login-submit">{submit}</button>
</form></main></body></html>"""


def _login_page(message_key: str | None = None, status: int = 200) -> Response:
    nxt = request.values.get("next", "")
    message = f'<p class="login-message" role="alert">{html_escape.escape(both(message_key))}</p>' if message_key else ""
    body = LOGIN_HTML.format(lang="ko", title=both("login.title"), app=both("app.title"), message=message,
                             next=html_escape.escape(nxt), user_label=both("login.username"),
                             password_label=both("login.password"), submit=both("login.submit"))
    return Response(body, status=status, mimetype="text/html")


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths may be a redirect target (no open redirect)."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def install(server: Flask, rt: Runtime, callback_map: Callable[[], dict[str, Any]]) -> None:
    """Add the login routes and the request guard to `server`.

    `callback_map` returns the Dash app's callback table, so the guard can read a callback's
    declared permission from the ``output`` of a ``/_dash-update-component`` request.
    """
    from dashboard.api.session import start_session

    @server.get("/login")
    def login_form() -> Response:
        if session.get("username"):
            return redirect(landing(role()))
        return _login_page("login.signed_out" if request.args.get("out") else None)

    @server.post("/login")
    def login_submit() -> Response:
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        try:
            with rt.session() as s:
                user = accounts.authenticate(s, username, password)
                out = start_session(user.username, user.role, user.language)
        except NotAuthenticated:
            log.warning("failed sign-in for %r from the login page", username)
            return _login_page("login.failed", 401)
        log.info("signed in: %s (%s)", out["username"], out["role"])
        target = _safe_next(request.form.get("next"))
        if target and out["role"] == "wall" and not target.startswith("/wall"):
            target = None
        return redirect(target or landing(out["role"]))

    @server.route("/logout", methods=["GET", "POST"])
    def logout() -> Response:
        session.clear()
        return redirect("/login?out=1")

    @server.get("/lang/<code>")
    def set_language(code: str) -> Response:
        if not session.get("username"):
            return redirect("/login")
        if code in LANGUAGES:
            session["language"] = code
            with rt.session() as s:
                accounts.set_language(s, session["username"], code)
        # Back to the page the switch was clicked on (the shell's links carry no path of their own:
        # the root layout is served from /_dash-layout, not from the page).
        back = urlparse(request.referrer or "")
        came_from = back.path + (f"?{back.query}" if back.query else "") if back.netloc == request.host else None
        return redirect(_safe_next(request.args.get("next")) or _safe_next(came_from) or landing(role()))

    @server.before_request
    def guard() -> Any:
        path = request.path
        if path.startswith(OPEN_PREFIXES) or path == "/logout" or path.startswith("/lang/"):
            return None
        signed_in = bool(session.get("username"))
        if path.startswith(SOCKET_PREFIX):
            return None  # the Socket.IO connect handler refuses anonymous sockets itself
        if path.startswith(DASH_PREFIX) or path.startswith("/geo/"):
            if not signed_in:
                return jsonify(NotAuthenticated("sign in first").to_json()), 401
            if path.startswith("/_dash-update-component"):
                return _check_callback(callback_map())
            return None
        # A page: sign in first; then the page's own permission.
        if not signed_in:
            return redirect(f"/login?next={request.full_path.rstrip('?')}")
        if path == "/":
            return redirect(landing(role()))
        page = _page_for(path)
        # Default deny: a path that is no registered page needs the console permission, so the
        # wall kiosk reaches exactly the pages marked for it.
        needed = page.get("permission", "view.console") if page is not None else "view.console"
        if not roles.allowed(role(), needed):
            log.warning("page refused: %s (%s) -> %s", session.get("username"), role(), path)
            return Response(f'<!doctype html><html><head><link rel="stylesheet" href="/assets/theme.css"></head>'
                            f'<body class="login-body"><main class="login-card"><p class="refusal" role="alert">'
                            f'{html_escape.escape(both("shell.forbidden"))}</p>'
                            f'<p><a href="{landing(role())}">{landing(role())}</a></p></main></body></html>',
                            status=403, mimetype="text/html")
        return None

    @server.errorhandler(CityOpsError)
    def cityops_error(exc: CityOpsError) -> Any:
        log.warning("%s %s -> %s %s: %s", request.method, request.path, exc.status, exc.key, exc.message)
        return jsonify(exc.to_json()), exc.status


def _page_for(path: str) -> dict[str, Any] | None:
    from dash import page_registry

    for page in page_registry.values():
        if page["path"].rstrip("/") == path.rstrip("/"):
            return page
    return None


def _check_callback(cb_map: dict[str, Any]) -> Any:
    """Refuse a callback request unless the user's role holds the callback's permission."""
    body = request.get_json(silent=True) or {}
    output = str(body.get("output", ""))
    if output.startswith(".." + PAGES_ROUTER_OUTPUT) or output.startswith(PAGES_ROUTER_OUTPUT):
        return None  # the pages router: each layout checks its own permission (`guarded`)
    entry = cb_map.get(output)
    fn = entry.get("callback") if entry else None
    permission = getattr(fn, PERMISSION_ATTR, DEFAULT_CALLBACK_PERMISSION)
    if not roles.allowed(role(), permission):
        log.warning("callback refused: %s (%s) -> %s needs %s", session.get("username"), role(), output, permission)
        return jsonify(NotAuthorized(f"the role {role()!r} may not do this ({permission})").to_json()), 403
    return None
