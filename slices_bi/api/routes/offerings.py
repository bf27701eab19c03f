"""Routes of the offered disk images and flavors: reads for any token, writes for admins."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlmodel import SQLModel

from slices_bi.api.deps import AdminDep, IdentityDep, SessionDep, SettingsDep
from slices_bi.api.errors import documented
from slices_bi.auth import is_admin
from slices_bi.catalog import offerings, repository
from slices_bi.catalog.models import (
    DiskImage,
    DiskImageCreate,
    DiskImagePublic,
    DiskImagesPublic,
    DiskImageUpdate,
    Flavor,
    FlavorCreate,
    FlavorPublic,
    FlavorsPublic,
    FlavorUpdate,
)

ERRORS = documented(
    _401="Missing or invalid token",
    _403="Not an administrator",
    _404="No such entry",
    _409="In use by resources",
    _422="Invalid body",
)

images = APIRouter(prefix="/disk-images", tags=["disk images"], responses=ERRORS)
flavors = APIRouter(prefix="/flavors", tags=["flavors"], responses=ERRORS)

HiddenQuery = Query(False, description="Admins only: include hidden entries")


@images.get("", response_model=DiskImagesPublic, summary="List the site's disk images")
def list_images(
    session: SessionDep,
    identity: IdentityDep,
    settings: SettingsDep,
    include_hidden: bool = HiddenQuery,
) -> DiskImagesPublic:
    rows = repository.list_disk_images(
        session, include_hidden=include_hidden and is_admin(identity, settings)
    )
    return DiskImagesPublic(data=[DiskImagePublic.model_validate(r) for r in rows], count=len(rows))


@images.get("/{image_id}", response_model=DiskImagePublic, summary="Show one disk image")
def get_image(
    image_id: str, session: SessionDep, identity: IdentityDep, settings: SettingsDep
) -> SQLModel:
    return offerings.get(session, DiskImage, image_id, include_hidden=is_admin(identity, settings))


@images.post(
    "",
    response_model=DiskImagePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a disk image",
)
def create_image(body: DiskImageCreate, session: SessionDep, _: AdminDep) -> SQLModel:
    return offerings.create(session, DiskImage, body)


@images.patch("/{image_id}", response_model=DiskImagePublic, summary="Edit a disk image")
def update_image(
    image_id: str, body: DiskImageUpdate, session: SessionDep, _: AdminDep
) -> SQLModel:
    return offerings.update(session, DiskImage, image_id, body)


@images.delete(
    "/{image_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an unused disk image"
)
def delete_image(image_id: str, session: SessionDep, _: AdminDep) -> None:
    offerings.delete(session, DiskImage, image_id)


@flavors.get("", response_model=FlavorsPublic, summary="List the site's flavors")
def list_flavors(
    session: SessionDep,
    identity: IdentityDep,
    settings: SettingsDep,
    include_hidden: bool = HiddenQuery,
) -> FlavorsPublic:
    rows = repository.list_flavors(
        session, include_hidden=include_hidden and is_admin(identity, settings)
    )
    return FlavorsPublic(data=[FlavorPublic.model_validate(r) for r in rows], count=len(rows))


@flavors.get("/{flavor_id}", response_model=FlavorPublic, summary="Show one flavor")
def get_flavor(
    flavor_id: str, session: SessionDep, identity: IdentityDep, settings: SettingsDep
) -> SQLModel:
    return offerings.get(session, Flavor, flavor_id, include_hidden=is_admin(identity, settings))


@flavors.post(
    "", response_model=FlavorPublic, status_code=status.HTTP_201_CREATED, summary="Add a flavor"
)
def create_flavor(body: FlavorCreate, session: SessionDep, _: AdminDep) -> SQLModel:
    return offerings.create(session, Flavor, body)


@flavors.patch("/{flavor_id}", response_model=FlavorPublic, summary="Edit a flavor")
def update_flavor(flavor_id: str, body: FlavorUpdate, session: SessionDep, _: AdminDep) -> SQLModel:
    return offerings.update(session, Flavor, flavor_id, body)


@flavors.delete(
    "/{flavor_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an unused flavor"
)
def delete_flavor(flavor_id: str, session: SessionDep, _: AdminDep) -> None:
    offerings.delete(session, Flavor, flavor_id)
