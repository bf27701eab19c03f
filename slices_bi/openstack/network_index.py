"""A short-lived cache of the cloud's network names, for checking requests at the API."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from slices_bi.openstack.connection import connect
from slices_bi.settings import Settings

logger = logging.getLogger(__name__)


class NetworkIndex:
    """Answers "does this network name or id resolve to one network?" from a cached listing.

    When the cloud cannot be reached the answer is "don't know" (None): the request is
    accepted and the flow's own network resolution decides, rather than refusing work.
    """

    def __init__(self, settings: Settings, ttl_seconds: float = 30.0) -> None:
        self._settings = settings
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._names: Counter[str] = Counter()
        self._ids: set[str] = set()

    def check(self, name_or_id: str) -> str | None:
        """None when it resolves (or the cloud is away); "missing" or "ambiguous" otherwise."""
        if not self._refresh():
            return None
        if name_or_id in self._ids:
            return None
        count = self._names.get(name_or_id, 0)
        if count == 0 and self._refresh(force=True):
            count = self._names.get(name_or_id, 0)
            if name_or_id in self._ids:
                return None
        if count == 0:
            return "missing"
        return "ambiguous" if count > 1 else None

    def _refresh(self, force: bool = False) -> bool:
        with self._lock:
            fresh = time.monotonic() - self._loaded_at < self._ttl
            if fresh and not (force and time.monotonic() - self._loaded_at > 1.0):
                return True
            try:
                networks = list(connect(self._settings).network.networks())
            except Exception as exc:
                logger.warning("network listing failed, accepting requests unchecked: %s", exc)
                return bool(self._loaded_at)
            self._names = Counter(n.name for n in networks if n.name)
            self._ids = {n.id for n in networks}
            self._loaded_at = time.monotonic()
            return True
