"""A client for the Device Management REST API. Plain Python: no Django imports here."""

from .breaker import CircuitBreaker, reset_shared_breakers, shared_breaker
from .client import ApiClient, ApiResponse, CallRecord, SessionPool, default_pool
from .errors import ApiError
from .pages import Page, Record, iterate

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiResponse",
    "CallRecord",
    "CircuitBreaker",
    "Page",
    "Record",
    "SessionPool",
    "default_pool",
    "iterate",
    "reset_shared_breakers",
    "shared_breaker",
]
