"""Routes of an experiment's resources (VMs): request, list, show, extend, delete."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request

from slices_bi.api.deps import (
    ExperimentDep,
    IdentityDep,
    LauncherDep,
    NetworksDep,
    PreflightDep,
    SessionDep,
    VerifierDep,
)
from slices_bi.api.errors import BODY_ERRORS, COMMON_ERRORS, documented
from slices_bi.api.submitting import submit_after_response
from slices_bi.auth import ExperimentIdentity, Identity, TokenError, TokenVerifier
from slices_bi.catalog import deletion, extension, reboot, repository, resources, timeline
from slices_bi.catalog import dry_run as dry_runs
from slices_bi.catalog.answers import DryRunPublic, ResourceExtendedPublic
from slices_bi.catalog.dry_run import grant_public
from slices_bi.catalog.event_models import ResourceEventsPublic
from slices_bi.catalog.models import Resource, ResourcePublic, ResourcesPublic, Task, TaskPublic
from slices_bi.catalog.schemas import ResourceExtension, ResourcesRequest, TokenRef

router = APIRouter(
    prefix="/resources",
    tags=["resources"],
    responses={
        **COMMON_ERRORS,
        **documented(
            _403="Wrong kind of token, or the body token is not the experiment token's user",
            _404="No such resource (or not one of the token's experiment or user)",
        ),
    },
)

_ERRORS = {
    **BODY_ERRORS,
    **documented(
        _409="request_id reused with another body, or friendly name taken",
        _422="A rule is broken: unknown image/flavor/network, expiry, user data, SSH key",
    ),
}


def _requester(experiment: ExperimentIdentity, user_id: str | None) -> resources.Requester:
    return resources.Requester(
        experiment_id=experiment.experiment_id,
        project_id=experiment.project_id,
        experiment_expires_at=experiment.expires_at,
        user_id=user_id or experiment.user_id,
    )


def _body_user(tokens: list[TokenRef], verifier: TokenVerifier, experiment_user: str | None) -> str:
    """The user of the body token; it must be the experiment token's user when that names one.

    Without a user claim in the experiment token, the body token is only checked to be a
    valid user token for this BI (signature, issuer, expiry, audience); its user owns the
    resources.
    """
    try:
        user_id = verifier.verify_user(tokens[0].jwt).user_id
    except TokenError as exc:
        raise TokenError(exc.code, f"tokens[0].jwt: {exc.detail}", exc.status_code) from None
    if experiment_user is not None and user_id != experiment_user:
        raise TokenError(
            "token_user_mismatch",
            "tokens[0].jwt: the user token is not the experiment token's user",
            status_code=403,
        )
    return user_id


def _visible(resource: Resource, identity: Identity) -> Resource:
    if isinstance(identity, ExperimentIdentity):
        allowed = resource.experiment_id == identity.experiment_id
    else:
        allowed = resource.user_id == identity.user_id
    if not allowed:
        raise resources.resource_not_found(resource.id)
    return resource


@router.post(
    "",
    response_model=TaskPublic | DryRunPublic,
    responses=_ERRORS,
    summary="Request VMs for the experiment (or, with dry_run, see what would happen)",
)
def request_resources(
    body: ResourcesRequest,
    experiment: ExperimentDep,
    session: SessionDep,
    verifier: VerifierDep,
    networks: NetworksDep,
    preflight: PreflightDep,
    launcher: LauncherDep,
    background: BackgroundTasks,
    request: Request,
    dry_run: bool = Query(
        False,
        description="Run every check (the cloud pre-flight too) and answer what would happen; "
        "nothing is written or started",
    ),
) -> Task | DryRunPublic:
    """Validate the whole request, store it, and start its provisioning; answers with the task.

    `tokens[0].jwt` is a user token; when the experiment token names its user, it must be
    that user (403 `token_user_mismatch`). The same `request_id` with the same body answers
    with the first task again. With `?dry_run=true`, nothing is written: the answer lists
    each check (failed ones with their reason), each VM resolved in the catalog and the
    cloud, the expiry that would be granted and the quota headroom.
    """
    requester = _requester(experiment, _body_user(body.tokens, verifier, experiment.user_id))
    if dry_run:
        return dry_runs.plan_request(
            session, body=body, requester=requester, networks=networks, preflight=preflight
        )
    task = resources.request_resources(session, body=body, requester=requester, networks=networks)
    submit_after_response(task, request, background, launcher)
    return task


@router.get("", response_model=ResourcesPublic, summary="List resources")
def list_resources(
    session: SessionDep,
    identity: IdentityDep,
    include_deleted: bool = Query(False, description="Also list deleted resources"),
) -> ResourcesPublic:
    """An experiment token lists its experiment's resources; a user token, the user's own."""
    if isinstance(identity, ExperimentIdentity):
        rows = repository.list_resources(
            session, experiment_id=identity.experiment_id, include_deleted=include_deleted
        )
    else:
        rows = repository.list_resources(
            session, user_id=identity.user_id, include_deleted=include_deleted
        )
    return ResourcesPublic(data=[ResourcePublic.model_validate(r) for r in rows], count=len(rows))


@router.get("/{resource_id}", response_model=ResourcePublic, summary="Show one resource")
def get_resource(resource_id: str, session: SessionDep, identity: IdentityDep) -> Resource:
    return _visible(
        resources.get_resource_of(session, resource_id=resource_id, experiment_id=None), identity
    )


@router.patch(
    "/{resource_id}",
    response_model=ResourceExtendedPublic,
    responses=_ERRORS,
    summary="Extend a resource",
)
def extend_resource(
    resource_id: str, body: ResourceExtension, session: SessionDep, experiment: ExperimentDep
) -> ResourceExtendedPublic:
    """Move `expires_at` later; never earlier, never past the experiment or the site maximum:
    a later ask is granted up to that limit, and `extension` says what was granted and why."""
    requester = _requester(experiment, None)
    resource, grant = extension.extend_resource(
        session, resource_id=resource_id, requester=requester, expires_at=body.expires_at
    )
    return ResourceExtendedPublic.model_validate(
        {**ResourcePublic.model_validate(resource).model_dump(), "extension": grant_public(grant)}
    )


@router.get(
    "/{resource_id}/events",
    response_model=ResourceEventsPublic,
    summary="The timeline of a resource",
)
def resource_events(
    resource_id: str, session: SessionDep, identity: IdentityDep
) -> ResourceEventsPublic:
    """Requested, building, active, extensions, expiry warnings, reboots, expiry, deletion,
    failure: each with its time, who made it happen and its details, oldest first."""
    resource = resources.get_resource_of(session, resource_id=resource_id, experiment_id=None)
    return timeline.timeline_of(session, _visible(resource, identity).id)


@router.post(
    "/{resource_id}/reboot",
    response_model=TaskPublic,
    responses=documented(_409="The resource is not active (building, failed, being deleted)"),
    summary="Reboot (reset) a resource",
)
def reboot_resource(
    resource_id: str,
    session: SessionDep,
    experiment: ExperimentDep,
    launcher: LauncherDep,
    background: BackgroundTasks,
    request: Request,
    reboot_type: Literal["soft", "hard"] = Query(
        "soft", alias="type", description="`soft` (the guest restarts) or `hard` (power cycle)"
    ),
) -> Task:
    """Reboot the VM and wait until it is ACTIVE again, as a task (`slices bi reset`).

    A deleted resource answers 404 like an unknown one; a reboot asked for while one runs
    answers that task."""
    task = reboot.request_reboot(
        session,
        resource_id=resource_id,
        experiment_id=experiment.experiment_id,
        user_id=experiment.user_id,
        hard=reboot_type == "hard",
    )
    submit_after_response(task, request, background, launcher)
    return task


@router.delete("/{resource_id}", response_model=TaskPublic, summary="Delete a resource")
def delete_resource(
    resource_id: str,
    session: SessionDep,
    experiment: ExperimentDep,
    launcher: LauncherDep,
    background: BackgroundTasks,
    request: Request,
) -> Task:
    """Start the deletion; answers with the delete task (the same one while it runs)."""
    resources.get_resource_of(
        session, resource_id=resource_id, experiment_id=experiment.experiment_id
    )
    task = deletion.request_deletion(
        session, resource_id=resource_id, user_id=experiment.user_id, launcher=None
    )
    submit_after_response(task, request, background, launcher)
    return task
