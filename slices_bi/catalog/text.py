"""Bounded, strict field types of request bodies: what the API accepts from anyone.

Text has no control characters (a NUL once made a catalog entry unusable); one-line
fields have no line breaks either. Numbers and booleans are not coerced: `true` is not
a count, `0` and `"yes"` are not booleans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, StrictBool, StrictInt, StringConstraints

# One line: no C0 control characters, no DEL.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# Several lines: tabs and line breaks allowed, other control characters not.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

# The integer columns are 32-bit on PostgreSQL.
INT32_MAX = 2**31 - 1
MAX_TAGS = 32

Name = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=ONE_LINE)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ONE_LINE)]
Word = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ONE_LINE)]
Kind = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=ONE_LINE)]
Summary = Annotated[str, StringConstraints(max_length=255, pattern=ONE_LINE)]
Description = Annotated[str, StringConstraints(max_length=1024, pattern=MULTI_LINE)]
LongDescription = Annotated[str, StringConstraints(max_length=4096, pattern=MULTI_LINE)]
Tags = Annotated[list[Word], Field(max_length=MAX_TAGS)]
SshKey = Annotated[str, StringConstraints(min_length=1, max_length=16_384, pattern=ONE_LINE)]

Size = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
PositiveSize = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
Cpus = Annotated[StrictInt, Field(ge=1, le=4096)]
Flag = StrictBool


def _text_only(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    return value


# An ISO 8601 string with a time zone (a bare number is not read as a Unix time).
Instant = Annotated[AwareDatetime, BeforeValidator(_text_only)]
