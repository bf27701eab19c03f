"""Admin changes to the offered disk images and flavors (one code path for both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from slices_bi.catalog import repository
from slices_bi.catalog.errors import Conflict, NotFound
from slices_bi.catalog.models import DiskImage, Flavor
from slices_bi.catalog.types import utcnow
from slices_bi.ids import Kind, new_id
from slices_bi.settings import get_settings

Offering = TypeVar("Offering", DiskImage, Flavor)

_KIND: dict[type, tuple[Kind, str]] = {
    DiskImage: ("image", "disk image"),
    Flavor: ("flavor", "flavor"),
}


def create(session: Session, model: type[Offering], data: BaseModel) -> Offering:
    """A new admin-made row; every field it sets is the admin's, which catalog-sync keeps."""
    kind, _ = _KIND[model]
    now = utcnow()
    fields = data.model_dump()
    row = model(
        **fields,
        id=new_id(kind, get_settings().site_id),
        origin="admin",
        admin_fields=sorted(fields),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.commit()
    return row


def list_rows(
    session: Session, model: type[Offering], *, include_hidden: bool
) -> Sequence[Offering]:
    """The offered rows in catalog order (hidden ones too when asked)."""
    if model is DiskImage:
        return repository.list_disk_images(session, include_hidden=include_hidden)  # type: ignore[return-value]
    return repository.list_flavors(session, include_hidden=include_hidden)  # type: ignore[return-value]


def get(session: Session, model: type[Offering], row_id: str, *, include_hidden: bool) -> Offering:
    """The row, or NotFound (hidden rows exist only for admins)."""
    _, label = _KIND[model]
    row = session.get(model, row_id)
    if row is None or (not include_hidden and (row.hidden or row.missing_from_cloud)):
        raise NotFound(f"no {label} {row_id}", code=f"{label.replace(' ', '_')}_not_found")
    return row


def update(session: Session, model: type[Offering], row_id: str, data: BaseModel) -> Offering:
    """Apply the fields set in `data` and remember them as the admin's."""
    row = get(session, model, row_id, include_hidden=True)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(row, name, value)
    row.admin_fields = sorted(set(row.admin_fields) | set(changes))
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    return row


def delete(session: Session, model: type[Offering], row_id: str) -> None:
    """Remove a row no resource refers to; a row in use can only be hidden."""
    row = get(session, model, row_id, include_hidden=True)
    in_use = (
        repository.is_image_in_use(session, row_id)
        if model is DiskImage
        else repository.is_flavor_in_use(session, row_id)
    )
    if in_use:
        _, label = _KIND[model]
        raise Conflict(
            f"{label} {row_id} is used by resources; hide it instead (PATCH with hidden=true)",
            code="in_use",
        )
    session.delete(row)
    session.commit()
