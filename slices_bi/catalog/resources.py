"""Resource requests and extensions: every rule is checked before anything is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from slices_bi.catalog import repository
from slices_bi.catalog.cloudinit import UserDataError, build_payload, check_ssh_key
from slices_bi.catalog.errors import Conflict, Forbidden, Invalid, NotFound
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
from slices_bi.settings import get_settings

EXTENDABLE = (ResourceStatus.PENDING, ResourceStatus.PROVISIONING, ResourceStatus.ACTIVE)


class NetworkChecker(Protocol):
    """Says whether a network name or id resolves to exactly one network of the cloud."""

    def check(self, name_or_id: str) -> str | None:
        """None when it resolves; else why not ("missing" or "ambiguous")."""
        ...


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
    networks: NetworkChecker | None,
) -> Task:
    """The provision task of `body`: new and committed, or the first one of its request_id."""
    request_id = str(body.request_id)
    digest = _request_hash(body)
    existing = repository.find_task_by_request(
        session, experiment_id=requester.experiment_id, request_id=request_id
    )
    if existing is not None:
        return _replay(existing, digest)

    now = utcnow()
    check_expiry(body.expires_at, requester.experiment_expires_at, now)
    keys = _checked_keys(body.ssh_authorized_keys)
    task_id = new_id("task", get_settings().site_id)
    resources, payloads = _build_resources(session, body, requester, keys, networks, task_id, now)

    _upsert_experiment(session, requester, now)
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
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.add_all(resources)
    session.flush()
    session.add_all(payloads)
    try:
        session.commit()
    except IntegrityError:
        # The same request_id raced us; its first answer stands.
        session.rollback()
        winner = repository.find_task_by_request(
            session, experiment_id=requester.experiment_id, request_id=request_id
        )
        if winner is None:
            raise
        return _replay(winner, digest)
    return task


def extend_resource(
    session: Session, *, resource_id: str, requester: Requester, expires_at: datetime
) -> Resource:
    """Move the expiry of a live resource later (never earlier), within the same limits."""
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
    check_expiry(expires_at, requester.experiment_expires_at, now)
    _upsert_experiment(session, requester, now)
    resource.expires_at = expires_at
    resource.updated_at = now
    session.add(resource)
    session.commit()
    return resource


def get_resource_of(session: Session, *, resource_id: str, experiment_id: str | None) -> Resource:
    """The resource, if it belongs to `experiment_id` (None: any); else NotFound / Forbidden."""
    resource = repository.get_resource(session, resource_id)
    if resource is None:
        raise NotFound(f"resource {resource_id} does not exist", code="resource_not_found")
    if experiment_id is not None and resource.experiment_id != experiment_id:
        raise Forbidden(f"resource {resource_id} belongs to another experiment")
    return resource


def check_expiry(
    expires_at: datetime, experiment_expires_at: datetime | None, now: datetime
) -> None:
    """Raise Invalid unless `expires_at` is in the future and within both limits."""
    settings = get_settings()
    if expires_at <= now:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is in the past", code="invalid_expires_at"
        )
    if experiment_expires_at is not None and expires_at > experiment_expires_at:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is after the experiment's expiry "
            f"{experiment_expires_at.isoformat()}",
            code="invalid_expires_at",
        )
    limit = now + timedelta(days=settings.max_duration_days)
    if expires_at > limit:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is more than {settings.max_duration_days} days "
            f"away (latest allowed now: {limit.isoformat(timespec='seconds')})",
            code="invalid_expires_at",
        )


def _build_resources(
    session: Session,
    body: ResourcesRequest,
    requester: Requester,
    keys: list[str],
    networks: NetworkChecker | None,
    task_id: str,
    now: datetime,
) -> tuple[list[Resource], list[ResourceUserData]]:
    site = get_settings().site_id
    taken = repository.live_friendly_names(session, requester.experiment_id)
    resources: list[Resource] = []
    payloads: list[ResourceUserData] = []
    for index, spec in enumerate(body.resources):
        field = f"resources[{index}]"
        image = repository.get_disk_image(session, spec.disk_image_id)
        if image is None or image.hidden or image.missing_from_cloud:
            raise Invalid(
                f"{field}.disk_image_id: no disk image {spec.disk_image_id} in this site's catalog",
                code="unknown_disk_image",
            )
        flavor = repository.get_flavor(session, spec.flavor_id)
        if flavor is None or flavor.hidden or flavor.missing_from_cloud:
            raise Invalid(
                f"{field}.flavor_id: no flavor {spec.flavor_id} in this site's catalog",
                code="unknown_flavor",
            )
        _check_fit(image, flavor, field)
        name = spec.friendly_name.lower()
        if name in taken:
            raise Conflict(
                f"{field}.friendly_name: {spec.friendly_name!r} is already used by a live "
                "resource of this experiment",
                code="duplicate_friendly_name",
            )
        taken.add(name)
        network = _network_of(spec.network_name, spec.network_interfaces, field, networks)
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


def _check_fit(image: DiskImage, flavor: Flavor, field: str) -> None:
    # Nova refuses these at boot; saying so now spares a failed task.
    if flavor.disk_mb and image.min_disk_mb > flavor.disk_mb:
        raise Invalid(
            f"{field}.flavor_id: flavor {flavor.friendly_name} has {flavor.disk_mb} MB of disk; "
            f"image {image.friendly_name} needs at least {image.min_disk_mb} MB",
            code="flavor_too_small",
        )
    if image.min_ram_mib > flavor.ram_mib:
        raise Invalid(
            f"{field}.flavor_id: flavor {flavor.friendly_name} has {flavor.ram_mib} MiB of RAM; "
            f"image {image.friendly_name} needs at least {image.min_ram_mib} MiB",
            code="flavor_too_small",
        )


def _network_of(
    network_name: str | None,
    interfaces: list | None,  # type: ignore[type-arg]
    field: str,
    networks: NetworkChecker | None,
) -> str:
    if interfaces:
        if network_name and network_name != interfaces[0].network_name:
            raise Invalid(
                f"{field}.network_interfaces: names network {interfaces[0].network_name!r} "
                f"but network_name says {network_name!r}",
                code="conflicting_network",
            )
        network_name = interfaces[0].network_name
    name = network_name or get_settings().default_network
    problem = networks.check(name) if networks is not None else None
    if problem is not None:
        where = "network_name" if network_name else "network_name (site default)"
        raise Invalid(
            f"{field}.{where}: network {name!r} is {problem} in the cloud", code="unknown_network"
        )
    return name


def _checked_keys(keys: list[str]) -> list[str]:
    checked = []
    for index, key in enumerate(keys):
        try:
            checked.append(check_ssh_key(key))
        except UserDataError as exc:
            raise Invalid(f"ssh_authorized_keys[{index}]: {exc}", code="invalid_ssh_key") from None
    return checked


def _request_hash(body: ResourcesRequest) -> str:
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


def _upsert_experiment(session: Session, requester: Requester, now: datetime) -> None:
    experiment = repository.get_experiment(session, requester.experiment_id)
    if experiment is None:
        experiment = Experiment(id=requester.experiment_id)
    experiment.project_id = requester.project_id or experiment.project_id
    if requester.experiment_expires_at is not None:
        experiment.expires_at = requester.experiment_expires_at
    experiment.updated_at = now
    session.add(experiment)
