"""Routes of the offered disk images and flavors: reads for any token, writes for admins.

Both resources have the same five routes, built by `offering_router`.
"""

# No `from __future__ import annotations`: FastAPI reads the body types of the routes
# built in `offering_router` from their (closure) annotations at definition time.

from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlmodel import SQLModel

from slices_bi.api.deps import AdminDep, IdentityDep, SessionDep, SettingsDep
from slices_bi.api.errors import BODY_ERRORS, COMMON_ERRORS, documented
from slices_bi.auth import is_admin
from slices_bi.catalog import offerings
from slices_bi.catalog.models import (
    DiskImage,
    DiskImagePublic,
    DiskImagesPublic,
    Flavor,
    FlavorPublic,
    FlavorsPublic,
)
from slices_bi.catalog.offering_bodies import (
    DiskImageCreate,
    DiskImageUpdate,
    FlavorCreate,
    FlavorUpdate,
)

ERRORS = {
    **COMMON_ERRORS,
    **documented(_403="Not an administrator", _404="No such entry", _409="In use by resources"),
}

HiddenQuery = Query(False, description="Admins only: include hidden entries")


def offering_router(
    *,
    model: Any,
    create: type[BaseModel],
    update: type[BaseModel],
    public: type[SQLModel],
    listing: Any,
    prefix: str,
    noun: str,
) -> APIRouter:
    """GET (list, one) for any token; POST, PATCH, DELETE for admins."""
    router = APIRouter(prefix=prefix, tags=[f"{noun}s"], responses=ERRORS)

    @router.get("", response_model=listing, summary=f"List the site's {noun}s")
    def list_entries(
        session: SessionDep,
        identity: IdentityDep,
        settings: SettingsDep,
        include_hidden: bool = HiddenQuery,
    ) -> Any:
        admin_view = include_hidden and is_admin(identity, settings)
        rows = offerings.list_rows(session, model, include_hidden=admin_view)
        return listing(data=[public.model_validate(r) for r in rows], count=len(rows))

    @router.get("/{entry_id}", response_model=public, summary=f"Show one {noun}")
    def get_entry(
        entry_id: str, session: SessionDep, identity: IdentityDep, settings: SettingsDep
    ) -> Any:
        return offerings.get(session, model, entry_id, include_hidden=is_admin(identity, settings))

    @router.post(
        "",
        response_model=public,
        status_code=status.HTTP_201_CREATED,
        responses=BODY_ERRORS,
        summary=f"Add a {noun}",
    )
    def create_entry(body: create, session: SessionDep, _: AdminDep) -> Any:  # type: ignore[valid-type]
        return offerings.create(session, model, body)

    @router.patch(
        "/{entry_id}", response_model=public, responses=BODY_ERRORS, summary=f"Edit a {noun}"
    )
    def update_entry(entry_id: str, body: update, session: SessionDep, _: AdminDep) -> Any:  # type: ignore[valid-type]
        return offerings.update(session, model, entry_id, body)

    @router.delete(
        "/{entry_id}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Remove an unused {noun}"
    )
    def delete_entry(entry_id: str, session: SessionDep, _: AdminDep) -> None:
        offerings.delete(session, model, entry_id)

    return router


images = offering_router(
    model=DiskImage,
    create=DiskImageCreate,
    update=DiskImageUpdate,
    public=DiskImagePublic,
    listing=DiskImagesPublic,
    prefix="/disk-images",
    noun="disk image",
)
flavors = offering_router(
    model=Flavor,
    create=FlavorCreate,
    update=FlavorUpdate,
    public=FlavorPublic,
    listing=FlavorsPublic,
    prefix="/flavors",
    noun="flavor",
)
