"""What the cloud reports about the image, flavor and network a server was made from, for
its receipt: plain dicts of ids, names, sizes and hashes. Kept for a few minutes (an image's
data and a flavor never change under the same id). Raise `CloudError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openstack.connection import Connection

from slices_bi.openstack.errors import cloud_call
from slices_bi.openstack.recent import Recent

TTL_SECONDS = 300.0

_facts: Recent[dict[str, Any]] = Recent(TTL_SECONDS)


def _cached(key: tuple[str, str], load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return dict(_facts.get(key, load))  # a copy: callers may add to it


def image_facts(conn: Connection, image_id: str) -> dict[str, Any]:
    """Glance's id, name, checksum, os_hash_algo, os_hash_value and size (bytes)."""

    def load() -> dict[str, Any]:
        with cloud_call(image_id=image_id):
            image = conn.image.get_image(image_id)
        return {
            "openstack_id": str(image.id),
            "name": image.name,
            "checksum": image.checksum,
            "os_hash_algo": image.hash_algo,
            "os_hash_value": image.hash_value,
            "size": image.size,
        }

    return _cached(("image", image_id), load)


def flavor_facts(conn: Connection, flavor_id: str) -> dict[str, Any]:
    """Nova's id, name, vcpus, ram_mib and disk_gb of the flavor."""

    def load() -> dict[str, Any]:
        with cloud_call(flavor_id=flavor_id):
            flavor = conn.compute.get_flavor(flavor_id)
        return {
            "openstack_id": str(flavor.id),
            "name": flavor.name,
            "vcpus": flavor.vcpus,
            "ram_mib": flavor.ram,
            "disk_gb": flavor.disk,
        }

    return _cached(("flavor", flavor_id), load)


def network_facts(conn: Connection, network_id: str) -> dict[str, Any]:
    """Neutron's id and name of the network."""

    def load() -> dict[str, Any]:
        with cloud_call(network_id=network_id):
            net = conn.network.get_network(network_id)
        return {"openstack_id": str(net.id), "name": net.name}

    return _cached(("network", network_id), load)


def forget() -> None:
    """Drop every kept answer (tests that change the cloud)."""
    _facts.clear()
