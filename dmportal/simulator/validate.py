"""Request-body validation with the real service's error shape (400 + ``fields``)."""

from __future__ import annotations

import re
from typing import Any

from . import errors
from .ids import is_id, parse_date

MISSING: Any = object()
EMAIL_RE = re.compile(r"^(?=.{3,254}$).+@.+$")  # the spec's pattern, anchored


class Body:
    """Collects every problem of a body before failing, like the real validators."""

    def __init__(self, data: dict):
        self.data = data
        self.problems: list[dict] = []

    def fail(self, name: str, message: str) -> Any:
        self.problems.append(errors.field(name, message))
        return MISSING

    def check(self) -> None:
        if self.problems:
            raise errors.validation(self.problems)

    def has(self, name: str) -> bool:
        return name in self.data

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        nullable: bool = False,
        pattern: re.Pattern | None = None,
        allow_empty: bool = True,
    ) -> Any:
        if name not in self.data:
            return self.fail(name, f"{name} is required.") if required else MISSING
        value = self.data[name]
        if value is None:
            if nullable and not required:
                return None
            return self.fail(name, f"{name} must not be null.")
        if not isinstance(value, str):
            return self.fail(name, f"{name} must be a string.")
        if (required or not allow_empty) and not value.strip():
            return self.fail(name, f"{name} must not be empty.")
        if max_length is not None and len(value) > max_length:
            return self.fail(name, f"{name} must be at most {max_length} characters.")
        if pattern is not None and value and not pattern.match(value):
            return self.fail(name, f"{name} has an invalid format.")
        return value

    def email(self, name: str = "email", *, required: bool = False) -> Any:
        value = self.string(name, required=required, nullable=not required)
        if isinstance(value, str) and not EMAIL_RE.match(value):
            return self.fail(name, f"'{value[:100]}' is not a valid email address.")
        return value

    def boolean(self, name: str, *, nullable: bool = False) -> Any:
        if name not in self.data:
            return MISSING
        value = self.data[name]
        if value is None and nullable:
            return None
        if not isinstance(value, bool):
            return self.fail(name, f"{name} must be true or false.")
        return value

    def integer(self, name: str, *, minimum: int, maximum: int) -> Any:
        if name not in self.data:
            return MISSING
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int):
            return self.fail(name, f"{name} must be an integer.")
        if not minimum <= value <= maximum:
            return self.fail(name, f"{name} must be between {minimum} and {maximum}.")
        return value

    def date(self, name: str, *, nullable: bool = False) -> Any:
        """A ``YYYY-MM-DD`` date (``format: date``)."""
        if name not in self.data:
            return MISSING
        value = self.data[name]
        if value is None and nullable:
            return None
        try:
            if isinstance(value, str):
                return parse_date(value).isoformat()
        except ValueError:
            pass
        return self.fail(name, f"{name} must be a date YYYY-MM-DD.")

    def enum(self, name: str, allowed: tuple[str, ...], *, nullable: bool = False) -> Any:
        if name not in self.data:
            return MISSING
        value = self.data[name]
        if value is None and nullable:
            return None
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            shown = ", ".join(str(a) for a in allowed)
            return self.fail(name, f"{name} must be one of: {shown}.")
        return value

    def id_list(self, name: str, *, nullable: bool = False) -> Any:
        if name not in self.data:
            return MISSING
        return id_list(self.data[name], name, self, nullable=nullable)

    def string_map(
        self, name: str, *, max_properties: int, max_length: int = 128, key_letter: bool = True
    ) -> Any:
        if name not in self.data:
            return MISSING
        value = self.data[name]
        if not isinstance(value, dict):
            return self.fail(name, f"{name} must be an object of strings.")
        if len(value) > max_properties:
            return self.fail(name, f"{name} can hold at most {max_properties} attributes.")
        for key, item in value.items():
            if not key or len(key) > max_length or (key_letter and key[0].isdigit()):
                return self.fail(
                    name,
                    f"Attribute names must be 1-{max_length} characters and not begin with a "
                    "number.",
                )
            if not isinstance(item, str) or len(item) > max_length:
                return self.fail(name, f"Attribute values must be strings of at most {max_length}.")
        return dict(value)


def id_list(value: Any, name: str, body: Body, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return body.fail(name, f"{name} must be a list of IDs.")
    if len(value) > 1000:
        return body.fail(name, f"{name} can hold at most 1000 IDs.")
    bad = [v for v in value if not is_id(v)]
    if bad:
        return body.fail(name, f"'{bad[0][:64]}' is not an ID (32 hex characters).")
    return list(dict.fromkeys(value))
