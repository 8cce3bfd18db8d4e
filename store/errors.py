"""One error tree for the whole product.

    CityOpsError (key "error", HTTP 500)
    ├── ValidationError   "invalid"         400  bad input, with the reason
    ├── NotAuthenticated  "not_authenticated" 401 no or bad credentials / API key
    ├── NotAuthorized     "forbidden"       403  the role may not do this
    ├── NotFound          "not_found"       404
    ├── Conflict          "conflict"        409  version check lost, double approval
    ├── InvalidTransition "invalid_transition" 409 a state machine refused the move
    ├── TooLarge          "too_large"       413
    └── Unavailable       "unavailable"     503  Redis or the database went away

The REST API renders each as JSON ``{"error", "message", "key"}`` with its status; pages show
the message as a toast; the log gets one line with the context id.
"""
from __future__ import annotations

from typing import Any


class CityOpsError(Exception):
    key = "error"
    status = 500

    def __init__(self, message: str, *, key: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if key:
            self.key = key
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": type(self).__name__, "message": self.message, "key": self.key}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationError(CityOpsError):
    key = "invalid"
    status = 400


class NotAuthenticated(CityOpsError):
    key = "not_authenticated"
    status = 401


class NotAuthorized(CityOpsError):
    key = "forbidden"
    status = 403


class NotFound(CityOpsError):
    key = "not_found"
    status = 404


class Conflict(CityOpsError):
    key = "conflict"
    status = 409


class InvalidTransition(Conflict):
    key = "invalid_transition"


class TooLarge(CityOpsError):
    key = "too_large"
    status = 413


class Unavailable(CityOpsError):
    key = "unavailable"
    status = 503
