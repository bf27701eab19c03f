"""DELETE /resources/{id}: deletions of one experiment share a task while it waits for a
worker, and a deletion that stopped moving starts again when asked."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from slices_bi.catalog.models import Resource, ResourceStatus, Task, TaskStatus
from slices_bi.catalog.types import utcnow
from tests.api.conftest import bearer, request_body


def _three_vms(client, tokens, image, flavor) -> list[str]:
    resources = [
        {"friendly_name": f"vm{i}", "disk_image_id": image.id, "flavor_id": flavor.id}
        for i in range(3)
    ]
    body = request_body(image, flavor, tokens, resources=resources)
    task = client.post("/resources", json=body, headers=bearer(tokens.experiment())).json()
    return list(task["resource_ids"])


def test_deletions_asked_together_share_one_task(client, tokens, image, flavor, session):
    ids = _three_vms(client, tokens, image, flavor)
    answers = [
        client.delete(f"/resources/{rid}", headers=bearer(tokens.experiment())).json()
        for rid in ids
    ]
    assert len({a["id"] for a in answers}) == 1  # one task, one run, for the three
    assert answers[-1]["resource_ids"] == ids
    task = session.get(Task, answers[0]["id"])
    assert task.message == "deletion of 3 resource(s) accepted"
    for rid in ids:
        row = session.get(Resource, rid)
        assert (row.status, row.delete_task_id) == (ResourceStatus.DELETING, task.id)


def test_a_task_that_started_takes_no_more_deletions(client, tokens, image, flavor, session):
    first, second, _ = _three_vms(client, tokens, image, flavor)
    headers = bearer(tokens.experiment())
    started = client.delete(f"/resources/{first}", headers=headers).json()
    task = session.get(Task, started["id"])
    task.status = TaskStatus.RUNNING  # a worker took it
    session.add(task)
    session.commit()
    later = client.delete(f"/resources/{second}", headers=headers).json()
    assert later["id"] != started["id"]
    assert later["resource_ids"] == [second]


def test_deleting_again_when_the_deletion_is_stuck_starts_a_fresh_one(
    client, tokens, image, flavor, session: Session, settings
):
    [rid, *_] = _three_vms(client, tokens, image, flavor)
    headers = bearer(tokens.experiment())
    stuck = client.delete(f"/resources/{rid}", headers=headers).json()
    # Its run never moved again (the worker died, nobody resumed it yet).
    task = session.get(Task, stuck["id"])
    task.status = TaskStatus.RUNNING
    task.updated_at = utcnow() - timedelta(seconds=settings.run_dead_after_seconds + 1)
    session.add(task)
    session.commit()
    fresh = client.delete(f"/resources/{rid}", headers=headers).json()
    assert fresh["id"] != stuck["id"]
    assert fresh["resource_ids"] == [rid]
    session.expire_all()
    old = session.get(Task, stuck["id"])
    assert old.status == TaskStatus.FAILED
    assert "no progress" in old.message
    assert session.get(Resource, rid).delete_task_id == fresh["id"]
    # The fresh one moves: asking again answers it.
    again = client.delete(f"/resources/{rid}", headers=headers).json()
    assert again["id"] == fresh["id"]


def test_two_resources_named_alike_in_one_request_are_refused(
    client, tokens, image, flavor, session
):
    resources = [
        {"friendly_name": "twin", "disk_image_id": image.id, "flavor_id": flavor.id},
        {"friendly_name": "Twin", "disk_image_id": image.id, "flavor_id": flavor.id},
    ]
    body = request_body(image, flavor, tokens, resources=resources)
    response = client.post("/resources", json=body, headers=bearer(tokens.experiment()))
    assert response.status_code == 422
    assert response.json()["error"] == "duplicate_friendly_name"
    assert "resources[1].friendly_name" in response.json()["detail"]
    assert "within a request" in response.json()["detail"]
    assert session.query(Task).count() == 0


def test_a_deletion_read_just_before_the_run_started_gets_a_task_of_its_own(
    client, tokens, image, flavor, session, monkeypatch
):
    """The window SQLite leaves open: the API read the task while pending, the run marked it
    running before the API wrote. The append must not land on the running task."""
    from slices_bi.catalog import deletion, lifecycle

    first, second, _ = _three_vms(client, tokens, image, flavor)
    headers = bearer(tokens.experiment())
    started = client.delete(f"/resources/{first}", headers=headers).json()
    with Session(session.get_bind(), expire_on_commit=False) as api:
        stale = api.get(Task, started["id"])  # the API's read, while pending
        assert stale.status == TaskStatus.PENDING
        run_view = lifecycle.mark_task_running(task_id=started["id"], flow_run_id="run-1")
        assert run_view is not None
        monkeypatch.setattr(deletion, "_joinable_task", lambda _session, _experiment: stale)
        task = deletion.request_deletion(api, resource_id=second, user_id=None, launcher=None)
    assert task.id != started["id"]
    assert task.resource_ids == [second]
    session.expire_all()
    assert session.get(Task, started["id"]).resource_ids == [first]  # what the run works on
