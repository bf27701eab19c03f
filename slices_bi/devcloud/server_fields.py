"""Validation of the fields of a Nova server body, shared by boot and by the
metadata and tags endpoints."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from slices_bi.devcloud.microversion import Version, at_least
from slices_bi.devcloud.web import ApiError, nova_error

MAX_USER_DATA = 65535
_TAG_RE = re.compile(r"^[^,/]{1,60}$")


def invalid(field: str, detail: str) -> ApiError:
    """Nova's 400 for a field that does not validate."""
    return nova_error(400, f"Invalid input for field/attribute {field}. {detail}")


def validate_user_data(raw: Any) -> str | None:
    if raw is None:
        return None
    try:
        decoded = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("user_data", f"Value: {raw!r} is not a 'base64'") from None
    if len(decoded) > MAX_USER_DATA:
        raise invalid("user_data", f"Value is too long (max {MAX_USER_DATA} bytes)")
    return str(raw)


def validate_metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
        for k, v in raw.items()
    ):
        raise invalid("metadata", "Value must be a mapping of strings (<= 255 characters).")
    return dict(raw)


def validate_tags(raw: Any, version: Version) -> list[str]:
    if raw is None:
        return []
    if not at_least(version, 2, 52):
        raise nova_error(
            400,
            "Invalid input for field/attribute server. "
            "Additional properties are not allowed ('tags' was unexpected)",
        )
    if (
        not isinstance(raw, list)
        or len(raw) > 50
        or not all(isinstance(t, str) and _TAG_RE.match(t) for t in raw)
    ):
        raise invalid(
            "tags", "Tags must be at most 50 strings of 1-60 characters without ',' or '/'."
        )
    return list(dict.fromkeys(raw))


def scheduler_hints(body: dict[str, Any]) -> dict[str, Any]:
    """The scheduler hints of a create body (``os:scheduler_hints`` or its alias)."""
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints"))
    if hints is None:
        return {}
    if not isinstance(hints, dict):
        raise invalid("os:scheduler_hints", f"Value: {hints!r} is not of type 'object'")
    return dict(hints)
