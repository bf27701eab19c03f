"""The seeded state of a fresh devcloud, and bulk seeding for benchmarks.

Seeded ids are uuid5s of the resource names so that every fresh devcloud (and
every ``reset``) has the same ids.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from slices_bi.devcloud.models import Flavor, Identity, Image, Network, Subnet
from slices_bi.devcloud.store import Store

_NS = uuid.UUID("6f1c3a52-5a0e-4f7b-9d51-3c1e2a9b7d10")

SEED_IMAGES: list[dict[str, Any]] = [
    {
        "name": "Ubuntu 22.04.5",
        "min_disk": 3,
        "properties": {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "os_version": "22.04"},
    },
    {
        "name": "Ubuntu 24.04.1",
        "min_disk": 4,
        "min_ram": 1024,
        "properties": {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "os_version": "24.04"},
    },
    {
        "name": "Debian 12.5",
        "min_disk": 0,
        "properties": {"os_distro": "debian", "os_version": "12"},
    },
]

# (id, name, vcpus, ram MiB, disk GiB) -- the devstack defaults.
SEED_FLAVORS: list[tuple[str, str, int, int, int]] = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
]


def stable_id(kind: str, name: str) -> str:
    """Deterministic UUID for a seeded resource."""
    return str(uuid.uuid5(_NS, f"{kind}:{name}"))


def new_identity(identity: Identity | None = None) -> Identity:
    """Fill in the ids of ``identity`` (or a default one) from its names."""
    ident = identity or Identity()
    ident.user_id = ident.user_id or stable_id("user", ident.username).replace("-", "")
    ident.project_id = ident.project_id or stable_id("project", ident.project_name).replace("-", "")
    return ident


def seeded_store(identity: Identity | None = None, now: float | None = None) -> Store:
    """A store holding the default images, flavors and networks."""
    ident = new_identity(identity)
    store = Store(ident)
    ts = time.time() if now is None else now
    for index, spec in enumerate(SEED_IMAGES):
        add_image(
            store, spec, created=ts - 86400 + index, image_id=stable_id("image", spec["name"])
        )
    for flavor_id, name, vcpus, ram, disk in SEED_FLAVORS:
        store.flavors[flavor_id] = Flavor(id=flavor_id, name=name, vcpus=vcpus, ram=ram, disk=disk)
    add_network(store, "private", "10.0.0.0/24", external=False, now=ts)
    add_network(store, "public", "172.24.4.0/24", external=True, now=ts)
    return store


def add_image(
    store: Store, spec: dict[str, Any], *, created: float, image_id: str | None = None
) -> Image:
    """Add an active image described by ``spec`` (name, min_disk, properties, ...)."""
    image = Image(
        id=image_id or str(uuid.uuid4()),
        name=spec["name"],
        status=spec.get("status", "active"),
        visibility=spec.get("visibility", "public"),
        min_disk=int(spec.get("min_disk", 0)),
        min_ram=int(spec.get("min_ram", 0)),
        tags=list(spec.get("tags", [])),
        properties=dict(spec.get("properties", {})),
        created_at=created,
        updated_at=created,
        size=int(spec.get("size", 2 * 1024**3 // 3)),
        virtual_size=int(spec.get("virtual_size", 3 * 1024**3)),
        checksum=spec.get("checksum", "0" * 32),
        os_hash_value=spec.get("os_hash_value", "0" * 128),
        owner=store.identity.project_id,
    )
    store.images[image.id] = image
    return image


def add_network(store: Store, name: str, cidr: str, *, external: bool, now: float) -> Network:
    """Add a network with one IPv4 subnet whose gateway is the first host."""
    project = store.identity.project_id
    network = Network(
        id=stable_id("network", name),
        name=name,
        project_id=project,
        external=external,
        shared=external,
        created_at=now,
    )
    gateway = cidr.rsplit(".", 1)[0] + ".1"
    subnet = Subnet(
        id=stable_id("subnet", f"{name}-subnet"),
        name=f"{name}-subnet",
        network_id=network.id,
        cidr=cidr,
        gateway_ip=gateway,
        project_id=project,
        created_at=now,
        enable_dhcp=not external,
    )
    network.subnet_ids.append(subnet.id)
    store.networks[network.id] = network
    store.subnets[subnet.id] = subnet
    return network


def bulk_seed(
    store: Store,
    *,
    images: int | list[dict[str, Any]] = 0,
    flavors: int = 0,
    image_prefix: str = "bulk-image",
    flavor_prefix: str = "bulk.flavor",
) -> dict[str, int]:
    """Add ``images`` generated (or given) active images and ``flavors`` flavors."""
    now = time.time()
    specs: list[dict[str, Any]]
    if isinstance(images, int):
        start = sum(1 for i in store.images.values() if i.name.startswith(image_prefix))
        specs = [
            {
                "name": f"{image_prefix}-{start + n:05d}",
                "min_disk": 1 + (start + n) % 20,
                "properties": {"os_admin_user": "ubuntu", "os_distro": "ubuntu"},
                "tags": ["bulk"],
            }
            for n in range(images)
        ]
    else:
        specs = images
    for offset, spec in enumerate(specs):
        add_image(store, spec, created=now + offset * 1e-3)
    base = len(store.flavors)
    for n in range(flavors):
        flavor_id = str(uuid.uuid4())
        vcpus = 1 << (n % 5)
        store.flavors[flavor_id] = Flavor(
            id=flavor_id,
            name=f"{flavor_prefix}-{base + n:04d}",
            vcpus=vcpus,
            ram=1024 * vcpus,
            disk=10 * vcpus,
        )
    return {"images": len(specs), "flavors": flavors}
