"""The ``/api/v1`` blueprint: routes declared with `endpoint()`, which records each route's
pydantic models so the OpenAPI document (`/api/v1/openapi.json`) is built from the same models
that validate the requests. One error path: every `CityOpsError` becomes JSON
``{"error", "message", "key"}`` with its status, and one log line.

Route modules (``dashboard/api/<area>.py``) each add their routes to `api`; the app factory
imports them all before registering the blueprint.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask import session as flask_session  # the name `session` is taken by the route module dashboard.api.session
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from dashboard import roles
from store.errors import CityOpsError, NotAuthenticated, ValidationError
from store.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class RouteDoc:
    path: str
    method: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: str = "session"  # session | api_key | api_key_or_session | none
    permission: str | None = None
    params: list[dict[str, Any]] = field(default_factory=list)
    responses: dict[int, str] = field(default_factory=dict)
    content_type: str = "application/json"
    view: Callable[..., Any] | None = None


ROUTES: list[RouteDoc] = []


def runtime() -> Runtime:
    return current_app.extensions["cityops"]


def current_role() -> str | None:
    return flask_session.get("role")


def current_username() -> str | None:
    return flask_session.get("username")


def require(permission: str) -> str:
    """The signed-in user's name, after checking their role on the server."""
    if not flask_session.get("username"):
        raise NotAuthenticated("sign in first (POST /api/v1/session)")
    roles.check(current_role(), permission)
    return flask_session["username"]


def parse_body(model: type[BaseModel]) -> Any:
    """The JSON body validated by `model`; 400 with each field's problem otherwise."""
    payload = request.get_json(silent=True)
    if payload is None:
        raise ValidationError("the body must be JSON (Content-Type: application/json)")
    try:
        return model.model_validate(payload)
    except PydanticValidationError as exc:
        raise ValidationError("the body is not valid", details=[
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]) from None


def endpoint(path: str, method: str = "GET", *, summary: str, tag: str, body: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, auth: str = "session", permission: str | None = None,
             params: list[dict[str, Any]] | None = None, responses: dict[int, str] | None = None,
             content_type: str = "application/json") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route on the blueprint and in the OpenAPI document at once.

    `path` uses Flask syntax (``/alerts/<int:alert_id>/ack``); the document shows it as
    ``/alerts/{alert_id}/ack``.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append(RouteDoc(path, method.upper(), summary, tag, body, response, auth, permission,
                               params or [], responses or {}, content_type, fn))
        return fn

    return decorate


def _openapi_path(path: str) -> str:
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", path)


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for r in ROUTES:
        op: dict[str, Any] = {"summary": r.summary, "tags": [r.tag], "operationId": f"{r.method.lower()}_{r.path.strip('/').replace('/', '_')}"}
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "integer" if f"int:{n}" in r.path else "string"}}
                  for n in __import__("re").findall(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r.path)]
        params += r.params
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {r.content_type: {"schema": ref(r.body)}}}
        elif r.content_type != "application/json":
            op["requestBody"] = {"required": True, "content": {r.content_type: {"schema": {"type": "string"}}}}
        ok: dict[str, Any] = {"description": "success"}
        if r.response is not None:
            ok["content"] = {"application/json": {"schema": ref(r.response)}}
        op["responses"] = {"200": ok, **{str(code): {**error, "description": text} for code, text in r.responses.items()}}
        if r.auth == "api_key":
            op["security"] = [{"apiKey": []}]
            op["responses"].setdefault("401", {**error, "description": "missing or bad API key"})
        elif r.auth in ("session", "api_key_or_session"):
            op["security"] = [{"session": []}] if r.auth == "session" else [{"apiKey": []}, {"session": []}]
            op["responses"].setdefault("401", {**error, "description": "not signed in" if r.auth == "session" else "no or bad API key and not signed in"})
            if r.permission:
                op["responses"].setdefault("403", {**error, "description": f"role lacks {r.permission}"})
                op["description"] = f"Roles: {', '.join(sorted(roles.PERMISSIONS[r.permission]))}."
        paths.setdefault(_openapi_path(r.path), {})[r.method.lower()] = op
    schemas["Error"] = {"type": "object", "required": ["error", "message", "key"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"}, "key": {"type": "string"}, "details": {}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityOps API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session"},
        }},
    }


def _cityops_error(exc: CityOpsError) -> Any:
    log.warning("api %s %s -> %s %s: %s", request.method, request.path, exc.status, exc.key, exc.message)
    return jsonify(exc.to_json()), exc.status


def _too_large(_exc: Exception) -> Any:
    log.warning("api %s %s -> 413 body too large", request.method, request.path)
    return jsonify({"error": "TooLarge", "message": "the request body is too large", "key": "too_large"}), 413


def _not_found(_exc: Exception) -> Any:
    return jsonify({"error": "NotFound", "message": f"no such route: {request.method} {request.path}", "key": "not_found"}), 404


def _bad_method(_exc: Exception) -> Any:
    return jsonify({"error": "MethodNotAllowed", "message": f"{request.method} is not allowed on {request.path}", "key": "method_not_allowed"}), 405


def build_blueprint() -> Blueprint:
    """A fresh ``/api/v1`` blueprint with every recorded route, for one app.

    Built per app (not one module-level blueprint) so that the order in which route modules
    and apps are created — several apps live in one test process — cannot matter.
    """
    load_route_modules()
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    for r in ROUTES:
        assert r.view is not None
        bp.add_url_rule(r.path, endpoint=f"{r.view.__name__}_{r.method.lower()}", view_func=r.view, methods=[r.method])
    bp.add_url_rule("/openapi.json", endpoint="openapi_json", view_func=lambda: jsonify(openapi_document()), methods=["GET"])
    bp.register_error_handler(CityOpsError, _cityops_error)
    bp.register_error_handler(413, _too_large)
    bp.register_error_handler(404, _not_found)
    bp.register_error_handler(405, _bad_method)
    return bp


ROUTE_MODULES = ("session", "ingest", "air", "alerts", "commands", "reports")


def load_route_modules() -> None:
    """Import each area's route module once (they register on `api`); missing areas are skipped."""
    import importlib

    for name in ROUTE_MODULES:
        try:
            importlib.import_module(f"dashboard.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dashboard.api.{name}":
                raise
