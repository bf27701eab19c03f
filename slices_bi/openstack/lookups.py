"""Image, flavor and network look-ups shared by every flow of a process for a short time.

Fifty one-VM requests for the same image would otherwise ask Glance, Nova and Neutron the
same three questions fifty times. Answers (cloud ids) are kept for `TTL_SECONDS`; errors
are never kept, so a fixed cloud is seen at the next try.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache
from openstack.connection import Connection

from slices_bi.openstack import boot, network

TTL_SECONDS = 60.0

_cache: TTLCache[tuple[str, str], str] = TTLCache(maxsize=1024, ttl=TTL_SECONDS)
_objects: TTLCache[tuple[str, str], Any] = TTLCache(maxsize=1024, ttl=TTL_SECONDS)
_lock = threading.Lock()


def _cached(key: tuple[str, str], load: Callable[[], str]) -> str:
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    value = load()
    with _lock:
        _cache[key] = value
    return value


def image_id(conn: Connection, location: str, *, label: str, catalog_id: str) -> str:
    """`boot.resolve_image`, cached by location."""
    return _cached(
        ("image", location),
        lambda: boot.resolve_image(conn, location, label=label, image_id=catalog_id),
    )


def flavor_id(conn: Connection, location: str, *, label: str, catalog_id: str) -> str:
    """`boot.resolve_flavor`, cached by location."""
    return _cached(
        ("flavor", location),
        lambda: boot.resolve_flavor(conn, location, label=label, flavor_id=catalog_id),
    )


def network_id(conn: Connection, name_or_id: str) -> str:
    """`network.resolve_network(...).id`, cached by name."""
    return _cached(
        ("network", name_or_id), lambda: str(network.resolve_network(conn, name_or_id).id)
    )


def cloud_object(kind: str, ref: str, load: Callable[[], Any], keep: Callable[[Any], bool]) -> Any:
    """`load()`'s answer for the image, flavor or network `ref` (the pre-flight's), kept for
    `TTL_SECONDS` when `keep(answer)`: a problem found is never kept."""
    with _lock:
        found = _objects.get((kind, ref))
    if found is not None:
        return found
    value = load()
    if keep(value):
        with _lock:
            _objects[(kind, ref)] = value
    return value


def forget() -> None:
    """Drop every cached answer (tests that change the cloud under a running process)."""
    with _lock:
        _cache.clear()
        _objects.clear()
