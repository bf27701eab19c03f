"""Receipts: what a resource was made of when it became active, as the cloud reported it.

The SHA-256 of the cloud-init payload is noted before the server is asked for (the payload
itself is dropped once the server exists); the rest is written once the resource is active.
A receipt holds ids, names, sizes, hashes, times and request ids: never a payload, a token
or a credential.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlmodel import Session

from slices_bi.catalog.db import session_scope
from slices_bi.catalog.errors import NotFound
from slices_bi.catalog.models import Resource
from slices_bi.catalog.observed import ResourceReceipt
from slices_bi.catalog.resources import resource_not_found
from slices_bi.catalog.types import utcnow


class ReceiptImage(BaseModel):
    """The disk image, as the catalog names it and as Glance reports it."""

    catalog_id: str
    openstack_id: str | None = None
    name: str | None = None
    checksum: str | None = Field(default=None, description="Glance's checksum (MD5)")
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    size: int | None = Field(default=None, description="bytes")


class ReceiptFlavor(BaseModel):
    """The flavor, as the catalog names it and as Nova reports it."""

    catalog_id: str
    openstack_id: str | None = None
    name: str | None = None
    vcpus: int | None = None
    ram_mib: int | None = None
    disk_gb: int | None = None


class ReceiptNetwork(BaseModel):
    openstack_id: str | None = None
    name: str | None = None


class ReceiptCall(BaseModel):
    """One cloud call of a step: no body, no query, only the cloud's request id."""

    method: str
    service: str
    path: str
    status: int
    request_id: str | None = None


class ReceiptStep(BaseModel):
    step: str
    started_at: datetime
    finished_at: datetime
    cloud_calls: list[ReceiptCall] = Field(default_factory=list)


class Receipt(BaseModel):
    """`GET /resources/{id}/receipt`: what a resource was made of when it became active."""

    resource_id: str
    experiment_id: str
    friendly_name: str
    server_id: str
    image: ReceiptImage
    flavor: ReceiptFlavor
    network: ReceiptNetwork
    user_data_sha256: str | None = Field(
        default=None, description="SHA-256 of the cloud-init payload sent to Nova (hex)"
    )
    steps: list[ReceiptStep] = Field(
        default_factory=list, description="The steps of the run that made it, with request ids"
    )
    problems: list[str] = Field(
        default_factory=list, description="What the cloud could not tell when it was written"
    )
    slices_bi_version: str
    recorded_at: datetime


def note_user_data_hash(*, resource_id: str, sha256: str | None) -> None:
    """Remember the hash of the payload about to be sent for `resource_id`."""
    with session_scope() as session:
        row = session.get(ResourceReceipt, resource_id, with_for_update=True)
        if row is None:
            session.add(ResourceReceipt(resource_id=resource_id, user_data_sha256=sha256))
        elif sha256 is not None:
            row.user_data_sha256 = sha256


def user_data_hash(*, resource_id: str) -> str | None:
    """The hash noted for `resource_id`, if any."""
    with session_scope() as session:
        row = session.get(ResourceReceipt, resource_id)
        return row.user_data_sha256 if row is not None else None


def record_receipt(receipt: Receipt) -> None:
    """Store the receipt of an active resource (a later one replaces it)."""
    body = receipt.model_dump(mode="json")
    with session_scope() as session:
        row = session.get(ResourceReceipt, receipt.resource_id, with_for_update=True)
        if row is None:
            row = ResourceReceipt(resource_id=receipt.resource_id)
        row.user_data_sha256 = receipt.user_data_sha256 or row.user_data_sha256
        row.body = body
        row.recorded_at = utcnow()
        session.add(row)


def receipt_for(
    session: Session, *, resource_id: str, experiment_id: str | None, user_id: str | None
) -> Receipt:
    """The receipt of `resource_id` for a token of `experiment_id` (or of `user_id`).

    A resource the caller may not see answers exactly like an unknown one; a visible
    resource without a receipt yet is NotFound `receipt_not_found`.
    """
    resource = session.get(Resource, resource_id)
    visible = resource is not None and (
        resource.experiment_id == experiment_id
        if experiment_id is not None
        else user_id is not None and resource.user_id == user_id
    )
    if not visible:
        raise resource_not_found(resource_id)
    row = session.get(ResourceReceipt, resource_id)
    if row is None or row.body is None:
        raise NotFound(
            f"resource {resource_id} has no receipt (it is written when the resource becomes "
            "active)",
            code="receipt_not_found",
        )
    return Receipt.model_validate(row.body)
