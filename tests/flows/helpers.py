"""Catalog rows for flow tests: an experiment, an image, a flavor, resources and a task."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from openstack.connection import Connection

from slices_bi.catalog.db import session_scope
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
from slices_bi.ids import new_id
from slices_bi.settings import get_settings

SECRET = "hunter2-S3cr3t-d0-n0t-l0g"
USER_DATA = f"#cloud-config\nchpasswd:\n  list: |\n    ubuntu:{SECRET}\n"


@dataclass
class Made:
    task_id: str
    resource_ids: list[str]
    experiment_id: str

    @property
    def resource_id(self) -> str:
        return self.resource_ids[0]


def make_provision_task(
    *,
    count: int = 1,
    public_ipv4: bool = False,
    network_name: str | None = None,
    image_location: str = "Ubuntu 22.04.5",
    flavor_location: str = "m1.small",
    user_data: str | None = USER_DATA,
    image_name: str = "Ubuntu 22.04",
) -> Made:
    """Rows the API would have written for a POST /resources: resources, user data, task."""
    site = get_settings().site_id
    now = datetime.now(UTC)
    experiment_id = f"exp_test_{uuid.uuid4().hex[:12]}"
    task_id = new_id("task", site)
    resource_ids = [new_id("res", site) for _ in range(count)]
    with session_scope() as s:
        s.add(Experiment(id=experiment_id, project_id="proj-test"))
        image = DiskImage(
            id=new_id("image", site), friendly_name=image_name, location=image_location
        )
        flavor = Flavor(
            id=new_id("flavor", site),
            friendly_name="tiny",
            vcpus=1,
            ram_mib=512,
            location=flavor_location,
        )
        s.add(image)
        s.add(flavor)
        s.flush()
        for index, rid in enumerate(resource_ids):
            s.add(
                Resource(
                    id=rid,
                    experiment_id=experiment_id,
                    friendly_name=f"vm-{index}",
                    disk_image_id=image.id,
                    flavor_id=flavor.id,
                    network_name=network_name,
                    public_ipv4=public_ipv4,
                    expires_at=now + timedelta(days=1),
                    provision_task_id=task_id,
                )
            )
        s.flush()
        if user_data is not None:
            for rid in resource_ids:
                s.add(ResourceUserData(resource_id=rid, payload=user_data))
        s.add(
            Task(
                id=task_id,
                kind=TaskKind.PROVISION,
                experiment_id=experiment_id,
                resource_ids=resource_ids,
                message="accepted",
            )
        )
    return Made(task_id=task_id, resource_ids=resource_ids, experiment_id=experiment_id)


def make_delete_task(resource_id: str) -> str:
    """A delete task for `resource_id`, as `request_deletion` writes it."""
    site = get_settings().site_id
    task_id = new_id("task", site)
    with session_scope() as s:
        resource = s.get(Resource, resource_id)
        assert resource is not None
        resource.delete_task_id = task_id
        if resource.status != ResourceStatus.DELETED:
            resource.status = ResourceStatus.DELETING
            resource.status_reason = "DeletionRequested"
        s.add(
            Task(
                id=task_id,
                kind=TaskKind.DELETE,
                experiment_id=resource.experiment_id,
                resource_ids=[resource_id],
                status=TaskStatus.PENDING,
            )
        )
    return task_id


def resource_row(resource_id: str) -> Resource:
    with session_scope() as s:
        row = s.get(Resource, resource_id)
        assert row is not None
        return row


def task_row(task_id: str) -> Task:
    with session_scope() as s:
        row = s.get(Task, task_id)
        assert row is not None
        return row


def user_data_row(resource_id: str) -> ResourceUserData | None:
    with session_scope() as s:
        return s.get(ResourceUserData, resource_id)


def servers_named(conn: Connection, name: str) -> list[Any]:
    return [s for s in conn.compute.servers() if s.name == name]


def all_servers(conn: Connection) -> list[Any]:
    return list(conn.compute.servers())


def all_floating_ips(conn: Connection) -> list[Any]:
    return list(conn.network.ips())


def server_made_by_an_earlier_run(conn: Connection, made: Made, index: int = 0) -> Any:
    """A server with our name, metadata and tag, as a run that died before saving its id left."""
    from slices_bi.openstack import boot, compute, network

    return compute.create_server(
        conn,
        resource_id=made.resource_ids[index],
        site_id=get_settings().site_id,
        experiment_id=made.experiment_id,
        image_id=boot.resolve_image(conn, "Ubuntu 22.04.5", label="u", image_id="i"),
        flavor_id=boot.resolve_flavor(conn, "m1.small", label="s", flavor_id="f"),
        network_id=str(network.resolve_network(conn, "private").id),
    )
