"""A client for the Device Management REST API. Plain Python: no Django imports here."""

from .client import ApiClient, ApiResponse, CallRecord, SessionPool, default_pool
from .errors import ApiError
from .pages import Page, Record, iterate

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiResponse",
    "CallRecord",
    "Page",
    "Record",
    "SessionPool",
    "default_pool",
    "iterate",
]
