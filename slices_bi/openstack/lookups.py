"""Image, flavor and network look-ups shared by every flow of a process for a short time.

Fifty one-VM requests for the same image would otherwise ask Glance, Nova and Neutron the
same three questions fifty times. Answers (cloud ids) are kept for `TTL_SECONDS`; errors
are never kept, so a fixed cloud is seen at the next try.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openstack.connection import Connection

from slices_bi.openstack import boot, network
from slices_bi.openstack.recent import Recent

TTL_SECONDS = 60.0

_ids: Recent[str] = Recent(TTL_SECONDS)
_objects: Recent[Any] = Recent(TTL_SECONDS)


def image_id(conn: Connection, location: str, *, label: str, catalog_id: str) -> str:
    """`boot.resolve_image`, cached by location."""
    return _ids.get(
        ("image", location),
        lambda: boot.resolve_image(conn, location, label=label, image_id=catalog_id),
    )


def flavor_id(conn: Connection, location: str, *, label: str, catalog_id: str) -> str:
    """`boot.resolve_flavor`, cached by location."""
    return _ids.get(
        ("flavor", location),
        lambda: boot.resolve_flavor(conn, location, label=label, flavor_id=catalog_id),
    )


def network_id(conn: Connection, name_or_id: str) -> str:
    """`network.resolve_network(...).id`, cached by name."""
    return _ids.get(
        ("network", name_or_id), lambda: str(network.resolve_network(conn, name_or_id).id)
    )


def cloud_object(kind: str, ref: str, load: Callable[[], Any], keep: Callable[[Any], bool]) -> Any:
    """`load()`'s answer for the image, flavor or network `ref` (the pre-flight's), kept for
    `TTL_SECONDS` when `keep(answer)`: a problem found is never kept."""
    return _objects.get((kind, ref), load, keep)


def forget() -> None:
    """Drop every cached answer (tests that change the cloud under a running process)."""
    _ids.clear()
    _objects.clear()
