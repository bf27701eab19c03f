"""Catalog upsert of the cloud's images and flavors (the body of catalog-sync).

Rules:
- Rows are matched on `cloud_id` (the OpenStack id), loaded in one query per table.
- A row is written only when a value differs, so a second sync of an unchanged cloud issues
  no INSERT or UPDATE and leaves `updated_at` alone.
- Sync-made rows (origin "sync") follow the cloud, except the fields listed in their
  `admin_fields`, which an admin set by hand.
- Admin-made rows (origin "admin") keep every field the admin wrote. One whose `location`
  is the id of a listed image/flavor, or a name only one listed item carries, is *linked*
  (its `cloud_id` set) instead of getting a duplicate sync row; from then on it is hidden
  and un-hidden like a sync row, and nothing else of it changes.
- An item gone from the cloud (or filtered out by the sync settings) is hidden with
  `missing_from_cloud = True`, never deleted (resources refer to it); it is un-hidden when
  it comes back. `hidden` is the admin's flag and sync never sets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlmodel import Session, select

from slices_bi.catalog.models import DiskImage, Flavor
from slices_bi.catalog.types import utcnow
from slices_bi.ids import new_id

if TYPE_CHECKING:
    from slices_bi.openstack.images import CloudFlavor, CloudImage

ORIGIN_SYNC = "sync"
ORIGIN_ADMIN = "admin"
EXAMPLES_PER_ACTION = 10
# Serializes concurrent syncs on PostgreSQL (a scheduled run and `slices-bi catalog sync`),
# which would otherwise both insert the same new image. SQLite serializes writers itself.
_PG_LOCK_KEY = 0x51_1CE5_B1_5C
_Row = TypeVar("_Row", DiskImage, Flavor)


class SyncCounts(BaseModel):
    """What one sync did to one table, with a few example names per action."""

    in_cloud: int = 0
    added: int = 0
    updated: int = 0
    hidden: int = 0
    unhidden: int = 0
    linked: int = 0
    unchanged: int = 0
    examples: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.hidden + self.unhidden + self.linked

    def note(self, action: str, name: str) -> None:
        setattr(self, action, getattr(self, action) + 1)
        names = self.examples.setdefault(action, [])
        if len(names) < EXAMPLES_PER_ACTION:
            names.append(name)


class SyncReport(BaseModel):
    """The result of a catalog-sync run (flow result, artifact and CLI output)."""

    images: SyncCounts = Field(default_factory=SyncCounts)
    flavors: SyncCounts = Field(default_factory=SyncCounts)
    started_at: datetime = Field(default_factory=utcnow)
    duration_seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.images.changed or self.flavors.changed)

    def __str__(self) -> str:
        return self.to_markdown()

    def summary(self) -> str:
        """One line for logs and the CLI."""
        parts = []
        for label, c in (("images", self.images), ("flavors", self.flavors)):
            parts.append(
                f"{label}: {c.in_cloud} in cloud, {c.added} added, {c.updated} updated, "
                f"{c.hidden} hidden, {c.unhidden} unhidden, {c.linked} linked"
            )
        return "; ".join(parts)

    def to_markdown(self) -> str:
        """A table of counts per kind, plus example names, for the Prefect artifact."""
        actions = ("in_cloud", "added", "updated", "hidden", "unhidden", "linked", "unchanged")
        lines = [
            f"# Catalog sync {self.started_at:%Y-%m-%d %H:%M:%S} UTC",
            "",
            "| | " + " | ".join(a.replace("_", " ") for a in actions) + " |",
            "|---|" + "---:|" * len(actions),
        ]
        for label, counts in (("images", self.images), ("flavors", self.flavors)):
            values = " | ".join(str(getattr(counts, a)) for a in actions)
            lines.append(f"| {label} | {values} |")
        lines += ["", f"Took {self.duration_seconds:.2f} s."]
        for label, counts in (("images", self.images), ("flavors", self.flavors)):
            for action, names in counts.examples.items():
                more = getattr(counts, action) - len(names)
                tail = f" and {more} more" if more > 0 else ""
                lines.append(f"- {label} {action}: {', '.join(names)}{tail}")
        return "\n".join(lines) + "\n"


def lock_catalog_sync(session: Session) -> None:
    """Hold the catalog-sync lock until the transaction ends (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def sync_images(
    session: Session,
    images: Sequence[CloudImage],
    *,
    site_id: str,
    default_username: str,
    now: datetime | None = None,
) -> SyncCounts:
    """Upsert `images` (the whole filtered listing) into `disk_images`; flushes, never commits."""
    desired = {
        image.id: {
            "friendly_name": image.name,
            "location": image.id,
            "min_disk_mb": image.min_disk_gb * 1024,
            "min_ram_mib": image.min_ram_mb,
            "default_username": image.default_user or default_username,
            "tags": list(image.tags),
        }
        for image in images
    }
    names = {image.id: image.name for image in images}

    def make(cloud_id: str, fields: dict[str, Any]) -> DiskImage:
        return DiskImage(
            id=new_id("image", site_id), origin=ORIGIN_SYNC, cloud_id=cloud_id, **fields
        )

    return _sync_table(session, DiskImage, desired, names, make, now or utcnow())


def sync_flavors(
    session: Session,
    flavors: Sequence[CloudFlavor],
    *,
    site_id: str,
    now: datetime | None = None,
) -> SyncCounts:
    """Upsert `flavors` (the whole public listing) into `flavors`; flushes, never commits."""
    desired = {
        flavor.id: {
            "friendly_name": flavor.name,
            "location": flavor.id,
            "vcpus": max(flavor.vcpus, 1),
            "ram_mib": max(flavor.ram_mb, 1),
            "disk_mb": flavor.disk_gb * 1024,
            "flavor_type": "vm",
        }
        for flavor in flavors
    }
    names = {flavor.id: flavor.name for flavor in flavors}

    def make(cloud_id: str, fields: dict[str, Any]) -> Flavor:
        return Flavor(id=new_id("flavor", site_id), origin=ORIGIN_SYNC, cloud_id=cloud_id, **fields)

    return _sync_table(session, Flavor, desired, names, make, now or utcnow())


def _sync_table(
    session: Session,
    model: type[_Row],
    desired: dict[str, dict[str, Any]],
    names: dict[str, str],
    make: Callable[[str, dict[str, Any]], _Row],
    now: datetime,
) -> SyncCounts:
    counts = SyncCounts(in_cloud=len(desired))
    rows = list(session.exec(select(model)).all())
    by_cloud: dict[str, list[_Row]] = {}
    for row in rows:
        if row.cloud_id:
            by_cloud.setdefault(row.cloud_id, []).append(row)
    linked: set[str] = set()
    for row, cloud_id in _links(rows, names):
        linked.add(row.id)
        row.cloud_id = cloud_id
        row.updated_at = now
        session.add(row)
        by_cloud.setdefault(cloud_id, []).append(row)
        counts.note("linked", names[cloud_id])

    for cloud_id, fields in desired.items():
        matched = by_cloud.get(cloud_id)
        if not matched:
            row = make(cloud_id, fields)
            row.created_at = row.updated_at = now
            session.add(row)
            counts.note("added", names[cloud_id])
            continue
        for row in matched:
            if not _apply(session, row, fields, counts, names[cloud_id], now) and (
                row.id not in linked
            ):
                counts.unchanged += 1

    for cloud_id, gone in by_cloud.items():
        if cloud_id in desired:
            continue
        for row in gone:
            if not row.missing_from_cloud:
                row.missing_from_cloud = True
                row.updated_at = now
                session.add(row)
                counts.note("hidden", row.friendly_name)
    session.flush()
    return counts


def _links(rows: Iterable[_Row], names: dict[str, str]) -> list[tuple[_Row, str]]:
    """(admin row, cloud id) pairs to link: location = a listed id, or a unique listed name."""
    by_name: dict[str, list[str]] = {}
    for cloud_id, name in names.items():
        by_name.setdefault(name, []).append(cloud_id)
    links = []
    for row in rows:
        if row.origin != ORIGIN_ADMIN or row.cloud_id:
            continue
        if row.location in names:
            links.append((row, row.location))
        elif len(by_name.get(row.location, ())) == 1:
            links.append((row, by_name[row.location][0]))
    return links


def _apply(
    session: Session,
    row: DiskImage | Flavor,
    fields: dict[str, Any],
    counts: SyncCounts,
    name: str,
    now: datetime,
) -> bool:
    changed = False
    if row.missing_from_cloud:
        row.missing_from_cloud = False
        counts.note("unhidden", name)
        changed = True
    if row.origin == ORIGIN_SYNC:
        protected = set(row.admin_fields or ())
        updates = {
            field: value
            for field, value in fields.items()
            if field not in protected and getattr(row, field) != value
        }
        for field, value in updates.items():
            setattr(row, field, value)
        if updates:
            counts.note("updated", name)
            changed = True
    if changed:
        row.updated_at = now
        session.add(row)
    return changed
