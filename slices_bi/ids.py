"""TypeIDs with a site namespace: `<kind>_<site>_<26 lowercase Crockford base32>`.

SLICES ids carry a namespace with dots and dashes (`user_account.ilabt.imec.be_...`,
`task_tld-city-bp1_...`), which the TypeID spec forbids, so the prefix is ours and the
suffix is a standard TypeID suffix (a UUIDv7, base32-encoded by typeid-python).
"""

from __future__ import annotations

import re
import uuid
from typing import Literal

import uuid_utils
from typeid import base32

Kind = Literal["task", "image", "flavor", "res"]

_ID_PATTERN = re.compile(
    r"^(?P<kind>[a-z]+)_(?P<site>[a-z0-9.-]+)_(?P<suffix>[0-7][0-9a-hjkmnp-tv-z]{25})$"
)


class InvalidId(ValueError):
    """A string that is not a well-formed id of the expected kind."""


def new_id(kind: Kind, site: str) -> str:
    """A fresh, time-ordered id of `kind` in the namespace of `site`."""
    raw = uuid.UUID(bytes=uuid_utils.uuid7().bytes)
    return f"{kind}_{site}_{base32.encode(raw.bytes)}"


def parse_id(value: str, kind: Kind | None = None) -> tuple[str, str, uuid.UUID]:
    """Split an id into (kind, site, uuid); raise `InvalidId` when it is malformed."""
    match = _ID_PATTERN.match(value)
    if match is None or (kind is not None and match["kind"] != kind):
        expected = f"{kind}_<site>_<26 base32 chars>" if kind else "<kind>_<site>_<suffix>"
        raise InvalidId(f"{value!r} is not a valid id (expected {expected})")
    return match["kind"], match["site"], uuid.UUID(bytes=bytes(base32.decode(match["suffix"])))


def is_valid_id(value: str, kind: Kind) -> bool:
    """True when `value` is a well-formed id of `kind`."""
    try:
        parse_id(value, kind)
    except InvalidId:
        return False
    return True
