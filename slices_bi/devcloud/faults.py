"""Fault-injection settings and the decisions drawn from them.

Per-service settings are dicts keyed by service (identity, compute, image,
network). A ``*_count`` of N makes the next N eligible calls fail whatever the
rate says, which is what deterministic tests want; rates are drawn from a
seedable RNG so that 1.0 always and 0.0 never fails.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SERVICES = ("identity", "compute", "image", "network")
QUOTA_KEYS = ("instances", "cores", "ram", "floating_ips")
_PER_SERVICE_FLOAT = ("error_rate", "latency", "reset_rate")
_PER_SERVICE_INT = ("error_count", "reset_count")
_INT_FIELDS = (
    "error_status",
    "server_error_count",
    "server_error_code",
    "server_error_without_fault_count",
)


class Action(Enum):
    PASS = "pass"  # noqa: S105 - not a password
    ERROR = "error"
    RESET = "reset"


class BuildOutcome(Enum):
    """How a new server's build ends."""

    ACTIVE = "active"
    #: ERROR with a fault record (``server_error_*``).
    ERROR = "error"
    #: ERROR and no fault at all, as after a compute restart mid-build.
    ERROR_WITHOUT_FAULT = "error_without_fault"


def _per_service(value: float = 0) -> dict[str, Any]:
    return dict.fromkeys(SERVICES, value)


@dataclass
class Faults:
    """What devcloud does wrong on purpose (all off by default)."""

    #: Probability of answering ``error_status`` instead of serving the call.
    error_rate: dict[str, float] = field(default_factory=lambda: _per_service(0.0))
    #: Fail the next N calls of the service with ``error_status``.
    error_count: dict[str, int] = field(default_factory=lambda: _per_service(0))
    error_status: int = 503
    #: Seconds added to every call of the service.
    latency: dict[str, float] = field(default_factory=lambda: _per_service(0.0))
    #: Probability / next-N count of closing the connection without an answer.
    reset_rate: dict[str, float] = field(default_factory=lambda: _per_service(0.0))
    reset_count: dict[str, int] = field(default_factory=lambda: _per_service(0))
    #: If set, errors and resets only hit calls whose "METHOD /path" matches this regex.
    match: str | None = None
    #: Probability / next-N count of new servers ending in ERROR instead of ACTIVE,
    #: with a fault of this message, code and (shown to admins) details.
    server_error_rate: float = 0.0
    server_error_count: int = 0
    server_error_message: str = "No valid host was found. There are not enough hosts available."
    server_error_code: int = 500
    server_error_details: str | None = None
    #: Probability / next-N count of new servers ending in ERROR with no fault at all.
    server_error_without_fault_rate: float = 0.0
    server_error_without_fault_count: int = 0
    #: Project quotas; -1 means unlimited.
    quota: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUOTA_KEYS, -1))
    #: Seed of the RNG behind the rates (None: not reproducible).
    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - fault draws, not crypto
        self._match = re.compile(self.match) if self.match else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; per-service fields take a number (all services)
        or a dict of service -> number ("*" for all). Raises ValueError if invalid."""
        new = dataclasses.replace(self)
        for key, value in changes.items():
            if key in _PER_SERVICE_FLOAT or key in _PER_SERVICE_INT:
                cast = int if key in _PER_SERVICE_INT else float
                merged = dict(getattr(self, key))
                merged.update(_service_values(key, value, cast))
                setattr(new, key, merged)
            elif key == "quota":
                if not isinstance(value, dict) or set(value) - set(QUOTA_KEYS):
                    raise ValueError(f"quota must be a dict with keys from {QUOTA_KEYS}")
                setattr(new, key, {**self.quota, **{k: int(v) for k, v in value.items()}})
            elif key in _INT_FIELDS:
                setattr(new, key, _count(key, value))
            elif key in ("server_error_rate", "server_error_without_fault_rate"):
                setattr(new, key, _rate(key, value))
            elif key in ("match", "seed"):
                setattr(new, key, value)
            elif key in ("server_error_message", "server_error_details"):
                setattr(new, key, _text(key, value, key == "server_error_details"))
            else:
                raise ValueError(f"unknown fault field {key!r}")
        if not 400 <= new.error_status <= 599:
            raise ValueError("error_status must be an HTTP error status (400-599)")
        if not 100 <= new.server_error_code <= 599:
            raise ValueError("server_error_code must be an HTTP status (100-599)")
        if new.match:
            try:
                re.compile(new.match)
            except re.error as exc:
                raise ValueError(f"match is not a valid regex: {exc}") from exc
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(new, f.name))
        self.__post_init__()

    def decide(self, service: str, request_line: str) -> Action:
        """What to do with a call of ``service``; ``request_line`` is "METHOD /path"."""
        if self._match is not None and not self._match.search(request_line):
            return Action.PASS
        if self._take(self.reset_count, self.reset_rate, service):
            return Action.RESET
        if self._take(self.error_count, self.error_rate, service):
            return Action.ERROR
        return Action.PASS

    def build_outcome(self) -> BuildOutcome:
        """How the build of the server being created ends (counts first, then rates)."""
        if self.server_error_count > 0:
            self.server_error_count -= 1
            return BuildOutcome.ERROR
        if self.server_error_without_fault_count > 0:
            self.server_error_without_fault_count -= 1
            return BuildOutcome.ERROR_WITHOUT_FAULT
        if self._draw(self.server_error_rate):
            return BuildOutcome.ERROR
        if self._draw(self.server_error_without_fault_rate):
            return BuildOutcome.ERROR_WITHOUT_FAULT
        return BuildOutcome.ACTIVE

    def _take(self, counts: dict[str, int], rates: dict[str, float], service: str) -> bool:
        if counts.get(service, 0) > 0:
            counts[service] -= 1
            return True
        return self._draw(rates.get(service, 0.0))

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate


def _rate(key: str, value: Any) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{key} must be between 0 and 1")
    return rate


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be an integer")
    number = int(value)
    if number < 0:
        raise ValueError(f"{key} must not be negative")
    return number


def _text(key: str, value: Any, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string" + (" or null" if nullable else ""))
    return value


def _service_values(key: str, value: Any, cast: type) -> dict[str, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"*": value}
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a number or a dict of service -> number")
    out: dict[str, Any] = {}
    for service, raw in value.items():
        targets = SERVICES if service in ("*", "all") else (service,)
        if targets[0] not in SERVICES:
            raise ValueError(f"{key}: unknown service {service!r} (one of {SERVICES})")
        number = _rate(key, raw) if key.endswith("_rate") else cast(raw)
        if number < 0:
            raise ValueError(f"{key} must not be negative")
        out.update(dict.fromkeys(targets, number))
    return out
