"""Read-only snapshots the flows take of catalog rows (plain frozen dataclasses, no ORM).

Prefect tasks pass ids and these snapshots between them; each function opens its own
session. Nothing here returns user data (see `lifecycle.get_user_data` for that).
"""

from __future__ import annotations

from dataclasses import dataclass

from slices_bi.catalog import repository
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.models import Resource, ResourceStatus, Task, TaskKind, TaskStatus


@dataclass(frozen=True)
class TaskView:
    """What a flow needs to know about a task row."""

    id: str
    kind: TaskKind
    status: TaskStatus
    experiment_id: str
    resource_ids: tuple[str, ...]
    flow_run_id: str | None
    completed: int
    message: str


@dataclass(frozen=True)
class ResourceView:
    """What a flow needs to know about a resource row."""

    id: str
    experiment_id: str
    friendly_name: str
    disk_image_id: str
    flavor_id: str
    network_name: str | None
    public_ipv4: bool
    status: ResourceStatus
    status_reason: str
    status_message: str
    server_id: str | None
    floating_ip_id: str | None


@dataclass(frozen=True)
class BootSource:
    """The catalog image and flavor of a resource: labels for messages, locations to boot."""

    image_id: str
    image_label: str
    image_location: str | None
    flavor_id: str
    flavor_label: str
    flavor_location: str | None


def task_view(task: Task) -> TaskView:
    return TaskView(
        id=task.id,
        kind=TaskKind(task.kind),
        status=TaskStatus(task.status),
        experiment_id=task.experiment_id,
        resource_ids=tuple(task.resource_ids or ()),
        flow_run_id=task.flow_run_id,
        completed=task.completed,
        message=task.message,
    )


def resource_view(resource: Resource) -> ResourceView:
    return ResourceView(
        id=resource.id,
        experiment_id=resource.experiment_id,
        friendly_name=resource.friendly_name,
        disk_image_id=resource.disk_image_id,
        flavor_id=resource.flavor_id,
        network_name=resource.network_name,
        public_ipv4=resource.public_ipv4,
        status=ResourceStatus(resource.status),
        status_reason=resource.status_reason,
        status_message=resource.status_message,
        server_id=resource.server_id,
        floating_ip_id=resource.floating_ip_id,
    )


def get_task_view(task_id: str) -> TaskView | None:
    """The task `task_id`, or None."""
    with session_scope() as session:
        task = repository.get_task(session, task_id)
        return task_view(task) if task is not None else None


def get_resource_view(resource_id: str) -> ResourceView | None:
    """The resource `resource_id`, or None."""
    with session_scope() as session:
        resource = repository.get_resource(session, resource_id)
        return resource_view(resource) if resource is not None else None


def get_resource_views(resource_ids: tuple[str, ...] | list[str]) -> list[ResourceView]:
    """The resources of `resource_ids` that exist, in that order."""
    with session_scope() as session:
        return [resource_view(r) for r in repository.get_resources(session, list(resource_ids))]


def get_boot_source(resource_id: str) -> BootSource | None:
    """The catalog image and flavor of `resource_id` (locations None when a row is gone)."""
    with session_scope() as session:
        resource = repository.get_resource(session, resource_id)
        if resource is None:
            return None
        image = repository.get_disk_image(session, resource.disk_image_id)
        flavor = repository.get_flavor(session, resource.flavor_id)
        return BootSource(
            image_id=resource.disk_image_id,
            image_label=image.friendly_name if image else resource.disk_image_id,
            image_location=image.location if image else None,
            flavor_id=resource.flavor_id,
            flavor_label=flavor.friendly_name if flavor else resource.flavor_id,
            flavor_location=flavor.location if flavor else None,
        )
