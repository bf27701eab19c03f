"""Who a verified token speaks for: a SLICES user or a SLICES experiment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# A verified token whose experiment claim starts with one of these is an experiment token.
EXPERIMENT_ID_PREFIXES: tuple[str, ...] = ("exp_", "xp_")


def is_experiment_id(value: object) -> bool:
    """True when `value` looks like a SLICES experiment id (`exp_...`, legacy `xp_...`)."""
    return isinstance(value, str) and value.startswith(EXPERIMENT_ID_PREFIXES)


@dataclass(frozen=True)
class UserIdentity:
    """A user token: `user_id` is its `sub`; `claims` are all verified claims."""

    user_id: str
    claims: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ExperimentIdentity:
    """An experiment token (`slices experiment jwt NAME`).

    `expires_at` is the experiment's own expiry (tz-aware UTC) when the token carries
    it, not the token's `exp`; `user_id` is the experiment's user when present.
    """

    experiment_id: str
    project_id: str | None
    expires_at: datetime | None
    user_id: str | None
    claims: dict[str, Any] = field(repr=False, compare=False)


Identity = UserIdentity | ExperimentIdentity
