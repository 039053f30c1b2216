"""The API's error object, raised by handlers and rendered by the server.

``{"object":"error","code":400,"type":"validation_error","message":...,"fields":[...],
"request_id":...}``: the shape of ``definitions.ErrorResponse`` in the spec. Types follow the IAM
enum quoted in dm-api-notes section 4.1 (invalid_auth, invalid_apikey, access_denied, not_found...).
"""

from __future__ import annotations

import json


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        fields: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.fields = fields or []
        self.headers = headers or {}

    def body(self, request_id: str) -> bytes:
        return error_body(self.status, self.type, self.message, request_id, self.fields)


def error_body(
    status: int, type_: str, message: str, request_id: str, fields: list[dict] | None = None
) -> bytes:
    doc = {
        "object": "error",
        "code": status,
        "type": type_,
        "message": message,
        "fields": fields or [],
        "request_id": request_id,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def field(name: str, message: str) -> dict:
    return {"name": name, "message": message}


def validation(fields: list[dict], message: str = "Validation error.") -> ApiError:
    return ApiError(400, "validation_error", message, fields)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


def access_denied(message: str = "Access denied: this operation is restricted.") -> ApiError:
    return ApiError(403, "access_denied", message)


def duplicate(message: str, fields: list[dict] | None = None) -> ApiError:
    return ApiError(409, "duplicate", message, fields)
