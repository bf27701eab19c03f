"""Resource requests: every rule is checked before anything is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from slices_bi.catalog import repository, rules, timeline
from slices_bi.catalog.cloudinit import UserDataError, build_payload
from slices_bi.catalog.errors import Conflict, Invalid, NotFound
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.models import (
    DiskImage,
    Experiment,
    Flavor,
    Resource,
    ResourceStatus,
    ResourceUserData,
    Task,
    TaskKind,
    TaskStatus,
)
from slices_bi.catalog.schemas import ResourcesRequest
from slices_bi.catalog.types import utcnow
from slices_bi.ids import new_id
from slices_bi.observability.context import current_request_id
from slices_bi.settings import get_settings


@dataclass(frozen=True)
class Requester:
    """Who asks: the experiment of the Authorization token and the user of the body token."""

    experiment_id: str
    project_id: str | None
    experiment_expires_at: datetime | None
    user_id: str | None


def request_resources(
    session: Session,
    *,
    body: ResourcesRequest,
    requester: Requester,
    networks: rules.NetworkChecker | None,
) -> Task:
    """The provision task of `body`: new and committed, or the first one of its request_id."""
    request_id = str(body.request_id)
    digest = request_hash(body)
    for attempt in range(2):
        existing = repository.find_task_by_request(
            session, experiment_id=requester.experiment_id, request_id=request_id
        )
        if existing is not None:
            return _replay(existing, digest)
        try:
            return _insert_request(session, body, requester, networks, request_id, digest)
        except Conflict:
            # A twin of this request may have committed after the look-up above (its
            # resources now hold the friendly names): its answer stands.
            session.rollback()
            twin = repository.find_task_by_request(
                session, experiment_id=requester.experiment_id, request_id=request_id
            )
            if twin is None:
                raise
            return _replay(twin, digest)
        except IntegrityError:
            # A concurrent request won a unique key: the same request_id (its answer
            # stands, found above on the next pass) or a new experiment's row (try again).
            session.rollback()
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _insert_request(
    session: Session,
    body: ResourcesRequest,
    requester: Requester,
    networks: rules.NetworkChecker | None,
    request_id: str,
    digest: str,
) -> Task:
    now = utcnow()
    rules.check_expiry(body.expires_at, requester.experiment_expires_at, now)
    keys = rules.checked_keys(body.ssh_authorized_keys)
    task_id = new_id("task", get_settings().site_id)
    resources, payloads = _build_resources(session, body, requester, keys, networks, task_id, now)
    upsert_experiment(session, requester, now)
    task = Task(
        id=task_id,
        kind=TaskKind.PROVISION,
        status=TaskStatus.PENDING,
        message=f"request for {len(resources)} resource(s) accepted",
        experiment_id=requester.experiment_id,
        user_id=requester.user_id,
        resource_ids=[r.id for r in resources],
        request_id=request_id,
        request_hash=digest,
        correlation_id=current_request_id(),
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.add_all(resources)
    for resource in resources:
        timeline.record(
            session,
            resource.id,
            EventKind.REQUESTED,
            f"requested until {resource.expires_at.isoformat()}",
            actor=requester.user_id,
            task_id=task_id,
            at=now,
            expires_at=resource.expires_at,
        )
    session.flush()
    session.add_all(payloads)
    session.commit()
    return task


def get_resource_of(session: Session, *, resource_id: str, experiment_id: str | None) -> Resource:
    """The resource, if it belongs to `experiment_id` (None: any); else `resource_not_found`.

    Another experiment's resource is refused exactly like an unknown id, so an answer never
    tells whether an id exists elsewhere.
    """
    resource = repository.get_resource(session, resource_id)
    if resource is None or (experiment_id is not None and resource.experiment_id != experiment_id):
        raise resource_not_found(resource_id)
    return resource


def resource_not_found(resource_id: str) -> NotFound:
    """The one answer for a resource id the caller may not see (unknown or not theirs)."""
    return NotFound(f"resource {resource_id} does not exist", code="resource_not_found")


def _build_resources(
    session: Session,
    body: ResourcesRequest,
    requester: Requester,
    keys: list[str],
    networks: rules.NetworkChecker | None,
    task_id: str,
    now: datetime,
) -> tuple[list[Resource], list[ResourceUserData]]:
    site = get_settings().site_id
    taken = repository.live_friendly_names(session, requester.experiment_id)
    requested: dict[str, int] = {}  # lower-cased name -> index in this request
    resources: list[Resource] = []
    payloads: list[ResourceUserData] = []
    for index, spec in enumerate(body.resources):
        field = f"resources[{index}]"
        image = image_of(session, spec.disk_image_id, field)
        flavor = flavor_of(session, spec.flavor_id, field)
        rules.check_fit(image, flavor, field)
        name = spec.friendly_name.lower()
        if name in requested:
            raise Invalid(
                f"{field}.friendly_name: {spec.friendly_name!r} is given to resources"
                f"[{requested[name]}] too; names must differ within a request",
                code="duplicate_friendly_name",
            )
        if name in taken:
            raise Conflict(
                f"{field}.friendly_name: {spec.friendly_name!r} is already used by a live "
                "resource of this experiment",
                code="duplicate_friendly_name",
            )
        requested[name] = index
        network = rules.network_of(spec.network_name, spec.network_interfaces, field, networks)
        try:
            payload = build_payload(spec.userdata, keys)
        except UserDataError as exc:
            raise Invalid(f"{field}.userdata: {exc}", code="invalid_userdata") from None
        resource = Resource(
            id=new_id("res", site),
            experiment_id=requester.experiment_id,
            project_id=requester.project_id,
            user_id=requester.user_id,
            friendly_name=spec.friendly_name,
            disk_image_id=image.id,
            flavor_id=flavor.id,
            network_name=network,
            public_ipv4=spec.public_ipv4,
            status=ResourceStatus.PENDING,
            status_reason="Requested",
            status_message="waiting for provisioning",
            expires_at=body.expires_at,
            provision_task_id=task_id,
            created_at=now,
            updated_at=now,
        )
        resources.append(resource)
        if payload is not None:
            payloads.append(ResourceUserData(resource_id=resource.id, payload=payload))
    return resources, payloads


def image_of(session: Session, image_id: str, field: str) -> DiskImage:
    """The offered catalog image `image_id`; else Invalid `unknown_disk_image`."""
    image = repository.get_disk_image(session, image_id)
    if image is None or image.hidden or image.missing_from_cloud:
        raise Invalid(
            f"{field}.disk_image_id: no disk image {image_id} in this site's catalog",
            code="unknown_disk_image",
        )
    return image


def flavor_of(session: Session, flavor_id: str, field: str) -> Flavor:
    """The offered catalog flavor `flavor_id`; else Invalid `unknown_flavor`."""
    flavor = repository.get_flavor(session, flavor_id)
    if flavor is None or flavor.hidden or flavor.missing_from_cloud:
        raise Invalid(
            f"{field}.flavor_id: no flavor {flavor_id} in this site's catalog",
            code="unknown_flavor",
        )
    return flavor


def request_hash(body: ResourcesRequest) -> str:
    # Tokens are left out: a retry with a freshly minted token is the same request.
    content = body.model_dump(mode="json", exclude={"tokens"})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _replay(task: Task, digest: str) -> Task:
    if task.request_hash != digest:
        raise Conflict(
            f"request_id {task.request_id} was already used with a different body (task {task.id})",
            code="request_id_reused",
        )
    return task


def upsert_experiment(session: Session, requester: Requester, now: datetime) -> None:
    experiment = repository.get_experiment(session, requester.experiment_id)
    if experiment is None:
        experiment = Experiment(id=requester.experiment_id)
    experiment.project_id = requester.project_id or experiment.project_id
    # Only ever later: an older token still in circulation must not pull the expiry back
    # (expiry-cleanup deletes everything of an experiment past its expiry).
    reported = requester.experiment_expires_at
    if reported is not None and (experiment.expires_at is None or reported > experiment.expires_at):
        experiment.expires_at = reported
    experiment.updated_at = now
    session.add(experiment)
