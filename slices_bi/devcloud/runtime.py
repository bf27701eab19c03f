"""The live devcloud: store, settings, faults, counters, tokens and persistence.

One :class:`Devcloud` is shared by all request handlers of an app. Handlers are
all ``async`` and never await while mutating, so the event loop serialises them
and no locking is needed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from slices_bi.devcloud.faults import Faults
from slices_bi.devcloud.models import Identity
from slices_bi.devcloud.seed import new_identity, seeded_store
from slices_bi.devcloud.store import Store

logger = logging.getLogger(__name__)

TOKEN_TTL = 24 * 3600.0
REQUEST_IDS_KEPT = 5000
_DELAYS = (
    "boot_delay",
    "delete_delay",
    "deleted_visible",
    "floating_ip_delay",
    "save_delay",
    "reboot_delay",
)


@dataclass
class DevcloudConfig:
    """Settings changeable at run time (``GET/PUT /devcloud/config``)."""

    #: Seconds a new server stays in BUILD before going ACTIVE (or ERROR).
    boot_delay: float = 3.0
    #: Seconds between a delete request and the delete completing (task_state deleting).
    delete_delay: float = 0.5
    #: Seconds a completed delete still answers ``GET /servers/{id}`` with status DELETED
    #: (it is already gone from the lists) before the 404, as Nova does.
    deleted_visible: float = 1.0
    #: Seconds between a floating IP association (at once in Neutron) and its
    #: ``floating`` entry in the server's ``addresses`` in Nova.
    floating_ip_delay: float = 1.0
    #: Seconds after a change before the state file is rewritten (changes in between
    #: share one write); a clean stop writes it at once.
    save_delay: float = 0.2
    #: Seconds a rebooted server shows REBOOT (soft) or HARD_REBOOT before ACTIVE again.
    reboot_delay: float = 1.0
    #: Base URL put in the catalog; None derives it from each request's Host header.
    public_url: str | None = None

    def update(self, changes: dict[str, Any]) -> None:
        """Partial update; raises ValueError on unknown fields or bad values."""
        new = replace(self)
        for key, value in changes.items():
            if key in _DELAYS:
                number = float(value)
                if not math.isfinite(number) or number < 0:
                    raise ValueError(f"{key} must be a finite number of seconds, not negative")
                setattr(new, key, number)
            elif key == "public_url":
                setattr(new, key, str(value).rstrip("/") if value else None)
            else:
                raise ValueError(f"unknown config field {key!r}")
        self.__dict__.update(asdict(new))


@dataclass
class Token:
    id: str
    user_id: str
    project_id: str | None
    issued_at: float
    expires_at: float
    methods: list[str] = field(default_factory=lambda: ["password"])
    audit_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))


class Devcloud:
    """State and behaviour switches of one running devcloud."""

    def __init__(
        self,
        config: DevcloudConfig | None = None,
        *,
        identity: Identity | None = None,
        faults: Faults | None = None,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.initial_config = replace(config or DevcloudConfig())
        self.config = replace(self.initial_config)
        self.identity = new_identity(identity)
        self.faults = faults or Faults()
        self.counters: Counter[str] = Counter()
        # The request id each answer carried, newest last: {"call", "request_id"}.
        self.request_ids: deque[dict[str, str]] = deque(maxlen=REQUEST_IDS_KEPT)
        self.tokens: dict[str, Token] = {}
        self.state_file = Path(state_file) if state_file else None
        self._save_handle: asyncio.TimerHandle | None = None
        if self.state_file is not None and self.state_file.exists():
            self.store = Store.load(self.state_file)
            self.identity = self.store.identity
            logger.info("devcloud state loaded from %s", self.state_file)
        else:
            self.store = seeded_store(self.identity)

    # -- state lifecycle ------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Apply time-based transitions that change the store (server purges)."""
        if self.store.purge_due(time.time() if now is None else now):
            self.changed()

    def reset(
        self,
        *,
        state: bool = True,
        faults: bool = True,
        counters: bool = True,
        config: bool = True,
    ) -> None:
        """Go back to the seeded state / no faults / zero counters / start config."""
        if state:
            self.store = seeded_store(self.identity)
            self.changed()
        if faults:
            self.faults = Faults()
        if counters:
            self.counters.clear()
            self.request_ids.clear()
        if config:
            self.config = replace(self.initial_config)

    def changed(self) -> None:
        """Note a state change; the state file is rewritten shortly (debounced)."""
        if self.state_file is None or self._save_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        self._save_handle = loop.call_later(self.config.save_delay, self.save)

    def save(self) -> None:
        """Write the state file now (no-op without one)."""
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self.state_file is not None:
            self.store.save(self.state_file)

    # -- tokens ---------------------------------------------------------------

    def issue_token(self, project_id: str | None, methods: list[str]) -> Token:
        now = time.time()
        token = Token(
            id="gAAAAA" + secrets.token_urlsafe(48),
            user_id=self.identity.user_id,
            project_id=project_id,
            issued_at=now,
            expires_at=now + TOKEN_TTL,
            methods=methods,
        )
        self.tokens[token.id] = token
        return token

    def valid_token(self, token_id: str | None) -> Token | None:
        if not token_id:
            return None
        token = self.tokens.get(token_id)
        if token is None or token.expires_at < time.time():
            return None
        return token
