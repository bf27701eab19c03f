"""expiry-cleanup fixtures: devcloud, catalog rows written directly, a recording launcher."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openstack.connection import Connection
from sqlmodel import Session

from slices_bi.catalog.models import (
    DiskImage,
    Experiment,
    Flavor,
    Resource,
    ResourceStatus,
    Task,
    TaskKind,
    TaskStatus,
)
from slices_bi.ids import new_id
from slices_bi.openstack import compute
from slices_bi.openstack.connection import close_connections
from slices_bi.settings import Settings

SITE = "tld-city-bp1"


@dataclass
class RecordingLauncher:
    """Stands in for Prefect: records each submitted task and answers a fake run id."""

    submitted: list[str] = field(default_factory=list)

    def submit(self, task: Task, name: str | None = None) -> str | None:
        self.submitted.append(task.id)
        return f"run-{len(self.submitted)}"


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def cloud(devcloud: Any, db: str) -> Iterator[Any]:
    close_connections()
    devcloud.set_delete_delay(0.0)
    yield devcloud
    close_connections()


@pytest.fixture
def conn(cloud: Any) -> Iterator[Connection]:
    connection = cloud.connect()
    yield connection
    connection.close()


@pytest.fixture
def cleanup_settings(settings: Settings) -> Settings:
    """No grace for leaks, so a server made a moment ago counts."""
    return settings.model_copy(update={"leak_grace_seconds": 0})


class Catalog:
    """Writes the rows the API and the flows would have written."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.image = DiskImage(
            id=new_id("image", SITE), friendly_name="Ubuntu", location="Ubuntu 22.04.5"
        )
        self.flavor = Flavor(
            id=new_id("flavor", SITE),
            friendly_name="small",
            vcpus=1,
            ram_mib=2048,
            location="m1.small",
        )
        session.add(self.image)
        session.add(self.flavor)
        session.commit()

    def experiment(self, expires_in: timedelta | None = timedelta(days=10)) -> str:
        experiment = Experiment(
            id=f"exp_test_{uuid.uuid4().hex[:12]}",
            expires_at=None if expires_in is None else datetime.now(UTC) + expires_in,
        )
        self.session.add(experiment)
        self.session.commit()
        return experiment.id

    def resource(
        self,
        experiment_id: str,
        *,
        status: ResourceStatus = ResourceStatus.ACTIVE,
        expires_in: timedelta = timedelta(days=1),
        server_id: str | None = None,
        delete_task_id: str | None = None,
    ) -> str:
        resource = Resource(
            id=new_id("res", SITE),
            experiment_id=experiment_id,
            friendly_name=f"vm-{uuid.uuid4().hex[:6]}",
            disk_image_id=self.image.id,
            flavor_id=self.flavor.id,
            status=status,
            expires_at=datetime.now(UTC) + expires_in,
            server_id=server_id,
            delete_task_id=delete_task_id,
        )
        self.session.add(resource)
        self.session.commit()
        return resource.id

    def delete_task(
        self,
        experiment_id: str,
        resource_id: str,
        *,
        status: TaskStatus,
        age: timedelta = timedelta(),
        task_id: str | None = None,
    ) -> str:
        when = datetime.now(UTC) - age
        task = Task(
            id=task_id or new_id("task", SITE),
            kind=TaskKind.DELETE,
            status=status,
            experiment_id=experiment_id,
            resource_ids=[resource_id],
            created_at=when,
            updated_at=when,
        )
        self.session.add(task)
        self.session.commit()
        return task.id

    def get(self, resource_id: str) -> Resource:
        self.session.expire_all()
        row = self.session.get(Resource, resource_id)
        assert row is not None
        return row


@pytest.fixture
def catalog(session: Session) -> Catalog:
    return Catalog(session)


class Servers:
    """Makes servers in devcloud: the way slices-bi does, or behind its back."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.boot = {
            "image_id": conn.image.find_image("Ubuntu 22.04.5", ignore_missing=False).id,
            "flavor_id": conn.compute.find_flavor("m1.small", ignore_missing=False).id,
            "network_id": conn.network.find_network("private", ignore_missing=False).id,
        }

    def slices_bi(self, resource_id: str, site_id: str = SITE) -> str:
        server = compute.create_server(
            self.conn, resource_id=resource_id, site_id=site_id, experiment_id="exp-x", **self.boot
        )
        return str(server.id)

    def by_hand(self, name: str, **extra: Any) -> str:
        server = self.conn.compute.create_server(
            name=name,
            image_id=self.boot["image_id"],
            flavor_id=self.boot["flavor_id"],
            networks=[{"uuid": self.boot["network_id"]}],
            **extra,
        )
        return str(server.id)

    def exists(self, server_id: str) -> bool:
        server = self.conn.compute.find_server(server_id, ignore_missing=True)
        return server is not None and (server.status or "").upper() != "DELETED"

    def wait_gone(self, server_id: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.exists(server_id):
                return True
            time.sleep(0.05)
        return False


@pytest.fixture
def servers(conn: Connection) -> Servers:
    return Servers(conn)
