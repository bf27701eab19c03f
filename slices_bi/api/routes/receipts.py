"""Route of a resource's receipt: what it was made of when it became active."""

from __future__ import annotations

from fastapi import APIRouter

from slices_bi.api.deps import IdentityDep, SessionDep
from slices_bi.api.errors import COMMON_ERRORS, documented
from slices_bi.auth import ExperimentIdentity
from slices_bi.catalog import receipts
from slices_bi.catalog.receipts import Receipt

router = APIRouter(
    prefix="/resources",
    tags=["resources"],
    responses={
        **COMMON_ERRORS,
        **documented(
            _404="No such resource (or not one of the token's experiment or user), or no "
            "receipt yet (`receipt_not_found`: it is written when the resource becomes active)"
        ),
    },
)


@router.get("/{resource_id}/receipt", response_model=Receipt, summary="What a resource was made of")
def get_receipt(resource_id: str, session: SessionDep, identity: IdentityDep) -> Receipt:
    """The image (with Glance's checksum and size), flavor, network, SHA-256 of the
    cloud-init payload, the steps with the cloud's request ids, and the slices-bi version;
    written when the resource became active. Cite it; compare two of them."""
    return receipts.receipt_for(
        session,
        resource_id=resource_id,
        experiment_id=identity.experiment_id if isinstance(identity, ExperimentIdentity) else None,
        user_id=None if isinstance(identity, ExperimentIdentity) else identity.user_id,
    )
