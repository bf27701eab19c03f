"""Images and flavors of the cloud, as catalog-sync sees them: plain values, listed in pages.

Both listings let the server filter (status, visibility, tag, is_public) and ask for large
pages, following only the servers' own "next" links. openstacksdk's resource listing adds
one more call after the last page whenever a `limit` is given; going through the proxies'
HTTP methods avoids it, so a sync costs one call per page and per visibility value, and one
for flavors (`/flavors/detail` carries every field we need: no call per flavor).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openstack import exceptions as sdk_exc
from openstack.connection import Connection
from openstack.proxy import Proxy

from slices_bi.openstack.errors import cloud_call

# Glance and Nova cap a page at 1000 items by default (api_limit_max / osapi_max_limit);
# a lower cap is fine: they still send a next link with every full page.
PAGE_SIZE = 1000
MAX_PAGES = 10_000  # a cloud that keeps sending next links is a bug, not a catalog

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
            raws = list(_pages(conn.image, "/images", query, "images", _glance_next))
        for raw in raws:
            image = _to_cloud_image(raw)
            # The server filters already; checking again keeps a lenient cloud honest.
            if raw.get("status") != "active" or image.visibility != visibility:
                continue
            if image.id in found or (tag and tag not in image.tags):
                continue
            if pattern is not None and not pattern.search(image.name):
                continue
            found[image.id] = image
    return list(found.values())


def list_flavors(conn: Connection, *, page_size: int = PAGE_SIZE) -> list[CloudFlavor]:
    """Public, enabled flavors, listed with details (one call per page of `page_size`).

    Raises `CloudError` (`TransientCloudError` when a retry may help), never a partial list.
    """
    query = {"is_public": "true", "limit": page_size}
    with cloud_call():
        raws = list(_pages(conn.compute, "/flavors/detail", query, "flavors", _nova_next))
    flavors: list[CloudFlavor] = []
    for raw in raws:
        if raw.get("OS-FLV-DISABLED:disabled") or raw.get("os-flavor-access:is_public") is False:
            continue
        flavors.append(
            CloudFlavor(
                id=str(raw["id"]),
                name=str(raw.get("name") or raw["id"]),
                vcpus=int(raw.get("vcpus") or 0),
                ram_mb=int(raw.get("ram") or 0),
                disk_gb=int(raw.get("disk") or 0),
            )
        )
    return flavors


def _pages(
    proxy: Proxy,
    path: str,
    query: dict[str, Any],
    key: str,
    next_query: Any,
) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] | list[tuple[str, str]] = query
    for _ in range(MAX_PAGES):
        response = proxy.get(path, params=params)
        sdk_exc.raise_from_response(response)
        body = response.json()
        items = body.get(key) or []
        yield from items
        following = next_query(body) if items else None
        if following is None:
            return
        params = following
    raise sdk_exc.SDKException(f"listing {path} did not end after {MAX_PAGES} pages")


def _query_of(link: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(link).query, keep_blank_values=True)


def _glance_next(body: dict[str, Any]) -> list[tuple[str, str]] | None:
    link = body.get("next")
    return _query_of(link) if isinstance(link, str) and link else None


def _nova_next(body: dict[str, Any]) -> list[tuple[str, str]] | None:
    for link in body.get("flavors_links") or []:
        if link.get("rel") == "next" and link.get("href"):
            return _query_of(str(link["href"]))
    return None


def _to_cloud_image(raw: dict[str, Any]) -> CloudImage:
    return CloudImage(
        id=str(raw["id"]),
        name=str(raw.get("name") or raw["id"]),
        visibility=str(raw.get("visibility") or ""),
        min_disk_gb=int(raw.get("min_disk") or 0),
        min_ram_mb=int(raw.get("min_ram") or 0),
        tags=tuple(sorted(str(t) for t in (raw.get("tags") or ()))),
        default_user=_default_user(raw),
    )


def _default_user(raw: dict[str, Any]) -> str | None:
    # Glance v2 keeps custom properties at the top level of the image.
    for key in USERNAME_PROPERTIES:
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
