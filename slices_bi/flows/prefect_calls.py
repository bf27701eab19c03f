"""Prefect API calls that a busy SQLite-backed server may answer "come back" to."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

RACES_TOLERATED = 20


def until_served(call: Callable[[], Any]) -> Any:
    """`call()` again while the server lost a write race (503, on a SQLite-backed server):
    soon, not after Prefect's 2, 4, 8 s back-off. Other errors are raised."""
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    delay, lost_races = 0.05, 0
    while True:
        try:
            with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
                return call()
        except PrefectHTTPStatusError as exc:
            lost_races += 1
            if exc.response.status_code != 503 or lost_races > RACES_TOLERATED:
                raise
            time.sleep(random.uniform(delay / 2, delay))  # noqa: S311
            delay = min(delay * 2, 1.0)
