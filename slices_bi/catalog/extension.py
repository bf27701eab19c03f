"""Extensions of a resource's expiry (`PATCH /resources/{id}`): later only, and past a
limit granted up to it, the grant saying what and why; each one on the timeline."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from slices_bi.catalog import rules, timeline
from slices_bi.catalog.errors import Conflict, Invalid
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.models import Resource, ResourceStatus
from slices_bi.catalog.resources import Requester, get_resource_of, upsert_experiment
from slices_bi.catalog.types import utcnow

EXTENDABLE = (ResourceStatus.PENDING, ResourceStatus.PROVISIONING, ResourceStatus.ACTIVE)


def extend_resource(
    session: Session, *, resource_id: str, requester: Requester, expires_at: datetime
) -> tuple[Resource, rules.ExpiryGrant]:
    """Move the expiry of a live resource later (never earlier); a request past the
    experiment's expiry or the site maximum is granted up to that limit (the grant says)."""
    resource = get_resource_of(
        session, resource_id=resource_id, experiment_id=requester.experiment_id
    )
    if resource.status not in EXTENDABLE:
        raise Conflict(
            f"resource {resource_id} is {resource.status.value}; only pending, provisioning "
            "or active resources can be extended",
            code="resource_not_extendable",
        )
    if expires_at <= resource.expires_at:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is not later than the current expiry "
            f"{resource.expires_at.isoformat()}; a resource can only be extended",
            code="invalid_expires_at",
        )
    now = utcnow()
    grant = rules.grant_expiry(expires_at, requester.experiment_expires_at, now)
    if grant.granted <= resource.expires_at:
        raise Invalid(
            f"expires_at: the resource cannot be extended past {resource.expires_at.isoformat()}"
            f": {grant.reason}",
            code="invalid_expires_at",
        )
    upsert_experiment(session, requester, now)
    previous = resource.expires_at
    resource.expires_at = grant.granted
    resource.updated_at = now
    session.add(resource)
    how = f"clamped ({grant.reason})" if grant.clamped else "as asked"
    timeline.record(
        session,
        resource_id,
        EventKind.EXTENDED,
        f"extended from {previous.isoformat()} to {grant.granted.isoformat()}, {how}",
        actor=requester.user_id or requester.experiment_id,
        at=now,
        **{
            "from": previous.isoformat(),
            "to": grant.granted.isoformat(),
            "requested": expires_at.isoformat(),
            "limited_by": grant.limited_by,
            "reason": grant.reason,
        },
    )
    session.commit()
    return resource, grant
