"""Concurrent requests: the same request_id, and a new experiment's first requests at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, func, select

from slices_bi.catalog.db import get_engine
from slices_bi.catalog.deletion import request_deletion
from slices_bi.catalog.models import DiskImage, Experiment, Flavor, Resource, Task
from slices_bi.catalog.resources import Requester, request_resources
from slices_bi.catalog.schemas import ResourcesRequest

THREADS = 6


def _body(image: DiskImage, flavor: Flavor, name: str, request_id: uuid.UUID) -> ResourcesRequest:
    return ResourcesRequest.model_validate(
        {
            "request_id": str(request_id),
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "resources": [
                {"friendly_name": name, "disk_image_id": image.id, "flavor_id": flavor.id}
            ],
            "tokens": [{"jwt": "verified-by-the-route"}],
        }
    )


def _at_once(db: str, calls: list[Callable[[Session], str]]) -> list[str | BaseException]:
    """Each call with a session of its own, all released at the same moment."""
    barrier = threading.Barrier(len(calls))
    results: list[str | BaseException] = [""] * len(calls)

    def one(index: int) -> None:
        with Session(get_engine(db), expire_on_commit=False) as session:
            barrier.wait()
            try:
                results[index] = calls[index](session)
            except BaseException as exc:
                results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _race(
    db: str, bodies: list[ResourcesRequest], requester: Requester
) -> list[str | BaseException]:
    return _at_once(
        db,
        [
            lambda session, body=body: (
                request_resources(session, body=body, requester=requester, networks=None).id
            )
            for body in bodies
        ],
    )


def _requester() -> Requester:
    return Requester(
        experiment_id=f"exp_race_{uuid.uuid4().hex[:10]}",
        project_id=None,
        experiment_expires_at=datetime.now(UTC) + timedelta(days=7),
        user_id="user_race",
    )


def _image_and_flavor(session: Session) -> tuple[DiskImage, Flavor]:
    image = DiskImage(id="image_race", friendly_name="img", location="img")
    flavor = Flavor(id="flavor_race", friendly_name="fl", vcpus=1, ram_mib=512, location="fl")
    session.add_all([image, flavor])
    session.commit()
    return image, flavor


def test_same_request_id_at_once_gives_one_task(db, session):
    image, flavor = _image_and_flavor(session)
    body = _body(image, flavor, "vm", uuid.uuid4())
    results = _race(db, [body] * THREADS, _requester())
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    assert session.exec(select(func.count()).select_from(Task)).one() == 1


def test_first_requests_of_a_new_experiment_at_once_all_succeed(db, session):
    image, flavor = _image_and_flavor(session)
    requester = _requester()
    bodies = [_body(image, flavor, f"vm{i}", uuid.uuid4()) for i in range(THREADS)]
    results = _race(db, bodies, requester)
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == THREADS
    assert session.exec(select(func.count()).select_from(Experiment)).one() == 1


def test_an_older_token_never_moves_the_experiment_expiry_back(db, session):
    image, flavor = _image_and_flavor(session)
    later = _requester()
    earlier = Requester(
        experiment_id=later.experiment_id,
        project_id=None,
        experiment_expires_at=later.experiment_expires_at - timedelta(days=3),  # type: ignore[operator]
        user_id="user_race",
    )
    request_resources(
        session, body=_body(image, flavor, "a", uuid.uuid4()), requester=later, networks=None
    )
    request_resources(
        session, body=_body(image, flavor, "b", uuid.uuid4()), requester=earlier, networks=None
    )
    session.expire_all()
    assert session.get(Experiment, later.experiment_id).expires_at == later.experiment_expires_at


def test_deletions_of_one_experiment_at_once_share_one_task(db, session):
    image, flavor = _image_and_flavor(session)
    requester = _requester()
    bodies = [_body(image, flavor, f"vm{i}", uuid.uuid4()) for i in range(THREADS)]
    for body in bodies:
        request_resources(session, body=body, requester=requester, networks=None)
    resource_ids = session.exec(
        select(Resource.id).where(Resource.experiment_id == requester.experiment_id)
    ).all()
    assert len(resource_ids) == THREADS
    tasks = _at_once(
        db,
        [
            lambda session, rid=rid: (
                request_deletion(session, resource_id=rid, user_id=None, launcher=None).id
            )
            for rid in resource_ids
        ],
    )
    assert all(isinstance(t, str) for t in tasks), tasks
    assert len(set(tasks)) == 1  # one run deletes them all, not one run each
