"""Images and flavors of the cloud, as catalog-sync sees them: plain values, listed in pages.

Both listings let the server filter (status, visibility, tag, is_public) and ask for large
pages, so a sync of a thousand images costs a handful of HTTP calls: one per page and per
visibility value, and one for flavors (`/flavors/detail` carries every field we need, so no
call per flavor).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openstack.connection import Connection

from slices_bi.openstack.errors import cloud_call

# Glance and Nova cap a page at 1000 items by default (api_limit_max / osapi_max_limit).
PAGE_SIZE = 1000

# Image properties that name the login user, in order of preference.
USERNAME_PROPERTIES = ("os_admin_user", "default_user")


@dataclass(frozen=True)
class CloudImage:
    """An active Glance image; sizes in Glance units (min_disk in GB, min_ram in MB)."""

    id: str
    name: str
    visibility: str
    min_disk_gb: int
    min_ram_mb: int
    tags: tuple[str, ...]
    default_user: str | None


@dataclass(frozen=True)
class CloudFlavor:
    """A public, enabled Nova flavor; sizes in Nova units (ram in MB, disk in GB)."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


def list_images(
    conn: Connection,
    *,
    visibilities: Sequence[str],
    tag: str | None = None,
    name_pattern: str | None = None,
    page_size: int = PAGE_SIZE,
) -> list[CloudImage]:
    """Active images of the given visibilities, optionally with `tag` and a name matching
    `name_pattern` (a regular expression searched in the name; anchor it for a full match).

    One paginated listing per visibility value; an image seen twice is returned once.
    Raises `CloudError` (`TransientCloudError` when a retry may help), never a partial list.
    """
    pattern = re.compile(name_pattern) if name_pattern else None
    found: dict[str, CloudImage] = {}
    for visibility in dict.fromkeys(visibilities):
        query: dict[str, Any] = {"status": "active", "visibility": visibility, "limit": page_size}
        if tag:
            query["tag"] = tag
        with cloud_call(visibility=visibility):
            raws = list(conn.image.images(**query))
        for raw in raws:
            image = _to_cloud_image(raw)
            # The server filters already; checking again keeps a lenient cloud honest.
            if raw.status != "active" or image.visibility != visibility or image.id in found:
                continue
            if tag and tag not in image.tags:
                continue
            if pattern is not None and not pattern.search(image.name):
                continue
            found[image.id] = image
    return list(found.values())


def list_flavors(conn: Connection, *, page_size: int = PAGE_SIZE) -> list[CloudFlavor]:
    """Public, enabled flavors, listed with details (one call per page of `page_size`).

    Raises `CloudError` (`TransientCloudError` when a retry may help), never a partial list.
    """
    with cloud_call():
        raws = list(conn.compute.flavors(details=True, is_public=True, limit=page_size))
    flavors: list[CloudFlavor] = []
    for raw in raws:
        if raw.is_disabled or raw.is_public is False:
            continue
        flavors.append(
            CloudFlavor(
                id=str(raw.id),
                name=str(raw.name or raw.id),
                vcpus=int(raw.vcpus or 0),
                ram_mb=int(raw.ram or 0),
                disk_gb=int(raw.disk or 0),
            )
        )
    return flavors


def _to_cloud_image(raw: Any) -> CloudImage:
    return CloudImage(
        id=str(raw.id),
        name=str(raw.name or raw.id),
        visibility=str(raw.visibility or ""),
        min_disk_gb=int(raw.min_disk or 0),
        min_ram_mb=int(raw.min_ram or 0),
        tags=tuple(sorted(str(t) for t in (raw.tags or ()))),
        default_user=_default_user(raw),
    )


def _default_user(raw: Any) -> str | None:
    # Glance v2 keeps custom properties at the top level; the SDK maps the known ones
    # (os_admin_user) to attributes and stores the others under `properties`.
    properties: dict[str, Any] = dict(raw.properties or {})
    for key in USERNAME_PROPERTIES:
        value = getattr(raw, key, None) if key == "os_admin_user" else None
        value = value or properties.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
