"""All SQL reads and row look-ups of the catalog. Services and flows change state; this reads.

`get_*` return the row or None; callers that need a row raise their own domain error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from slices_bi.catalog.models import (
    TERMINAL_TASK_STATUSES,
    DiskImage,
    Experiment,
    Flavor,
    Resource,
    ResourceStatus,
    ResourceUserData,
    Task,
    TaskStatus,
)

LIVE_RESOURCE_STATUSES = (
    ResourceStatus.PENDING,
    ResourceStatus.PROVISIONING,
    ResourceStatus.ACTIVE,
    ResourceStatus.DELETING,
)


def get_disk_image(session: Session, image_id: str) -> DiskImage | None:
    return session.get(DiskImage, image_id)


def list_disk_images(session: Session, *, include_hidden: bool = False) -> Sequence[DiskImage]:
    query = select(DiskImage).order_by(col(DiskImage.friendly_name), col(DiskImage.id))
    if not include_hidden:
        query = query.where(col(DiskImage.hidden).is_(False))
        query = query.where(col(DiskImage.missing_from_cloud).is_(False))
    return session.exec(query).all()


def get_flavor(session: Session, flavor_id: str) -> Flavor | None:
    return session.get(Flavor, flavor_id)


def list_flavors(session: Session, *, include_hidden: bool = False) -> Sequence[Flavor]:
    query = select(Flavor).order_by(col(Flavor.vcpus), col(Flavor.ram_mib), col(Flavor.id))
    if not include_hidden:
        query = query.where(col(Flavor.hidden).is_(False))
        query = query.where(col(Flavor.missing_from_cloud).is_(False))
    return session.exec(query).all()


def is_image_in_use(session: Session, image_id: str) -> bool:
    query = select(Resource.id).where(Resource.disk_image_id == image_id).limit(1)
    return session.exec(query).first() is not None


def is_flavor_in_use(session: Session, flavor_id: str) -> bool:
    query = select(Resource.id).where(Resource.flavor_id == flavor_id).limit(1)
    return session.exec(query).first() is not None


def get_experiment(session: Session, experiment_id: str) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def get_resource(session: Session, resource_id: str) -> Resource | None:
    return session.get(Resource, resource_id)


def get_resources(session: Session, resource_ids: Sequence[str]) -> list[Resource]:
    """The rows of `resource_ids`, in that order (missing ids are skipped)."""
    rows = {
        r.id: r for r in session.exec(select(Resource).where(col(Resource.id).in_(resource_ids)))
    }
    return [rows[rid] for rid in resource_ids if rid in rows]


def list_resources(
    session: Session,
    *,
    experiment_id: str | None = None,
    user_id: str | None = None,
    include_deleted: bool = False,
) -> Sequence[Resource]:
    query = select(Resource).order_by(col(Resource.created_at), col(Resource.id))
    if experiment_id is not None:
        query = query.where(Resource.experiment_id == experiment_id)
    if user_id is not None:
        query = query.where(Resource.user_id == user_id)
    if not include_deleted:
        query = query.where(Resource.status != ResourceStatus.DELETED)
    return session.exec(query).all()


def live_friendly_names(session: Session, experiment_id: str) -> set[str]:
    """Friendly names in use by the experiment's resources that are not gone or failed."""
    query = select(Resource.friendly_name).where(
        Resource.experiment_id == experiment_id,
        col(Resource.status).in_(LIVE_RESOURCE_STATUSES),
    )
    return {name.lower() for name in session.exec(query)}


def get_user_data(session: Session, resource_id: str) -> ResourceUserData | None:
    return session.get(ResourceUserData, resource_id)


def get_task(session: Session, task_id: str) -> Task | None:
    return session.get(Task, task_id)


def find_task_by_request(session: Session, *, experiment_id: str, request_id: str) -> Task | None:
    query = select(Task).where(Task.experiment_id == experiment_id, Task.request_id == request_id)
    return session.exec(query).first()


def list_unsubmitted_tasks(session: Session, *, created_before: datetime) -> Sequence[Task]:
    """Pending tasks that no flow run carries yet (Prefect was down when they came in)."""
    query = (
        select(Task)
        .where(Task.status == TaskStatus.PENDING, col(Task.flow_run_id).is_(None))
        .where(col(Task.created_at) <= created_before)
        .order_by(col(Task.created_at))
    )
    return session.exec(query).all()


def list_unfinished_tasks(session: Session, *, updated_before: datetime) -> Sequence[Task]:
    """Submitted, unfinished tasks that have not moved since `updated_before`."""
    query = (
        select(Task)
        .where(col(Task.status).not_in(TERMINAL_TASK_STATUSES), col(Task.flow_run_id).is_not(None))
        .where(col(Task.updated_at) <= updated_before)
        .order_by(col(Task.updated_at))
    )
    return session.exec(query).all()
