"""expiry-cleanup against devcloud over HTTP and the real catalog database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from slices_bi.catalog import reconcile
from slices_bi.catalog.models import Resource, ResourceStatus, Task, TaskKind, TaskStatus
from slices_bi.flows.expiry_cleanup import run_expiry_cleanup
from slices_bi.ids import new_id
from slices_bi.settings import Settings
from tests.cleanup.conftest import SITE, Catalog, RecordingLauncher, Servers

PAST = timedelta(minutes=-5)


def delete_tasks(session: Session) -> list[Task]:
    session.expire_all()
    return list(session.exec(select(Task).where(Task.kind == TaskKind.DELETE)))


class TestExpiredResources:
    def test_an_extension_committed_after_listing_wins(
        self, catalog: Catalog, db: str, launcher: RecordingLauncher
    ) -> None:
        from slices_bi.catalog.db import get_engine
        from slices_bi.catalog.deletion import NotExpired, request_deletion
        from slices_bi.catalog.types import utcnow

        experiment = catalog.experiment()
        resource_id = catalog.resource(experiment, expires_in=PAST)
        with Session(get_engine(db), expire_on_commit=False) as cleanup_session:
            listed = cleanup_session.get(Resource, resource_id)  # what the cleanup listed
            assert listed is not None
            extended = catalog.get(resource_id)  # meanwhile a PATCH extends it and commits
            extended.expires_at = datetime.now(UTC) + timedelta(days=2)
            catalog.session.commit()
            with pytest.raises(NotExpired):
                request_deletion(
                    cleanup_session,
                    resource_id=resource_id,
                    user_id=None,
                    launcher=launcher,
                    expired_by=utcnow(),
                )
        assert catalog.get(resource_id).status == ResourceStatus.ACTIVE
        assert launcher.submitted == []

    def test_expired_resources_get_one_deletion_each(
        self,
        catalog: Catalog,
        servers: Servers,
        session: Session,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        experiment = catalog.experiment()
        expired = catalog.resource(experiment, expires_in=PAST)
        servers.slices_bi(expired)  # its server: owned by a live resource, so no leak
        current = catalog.resource(experiment)
        ended = catalog.experiment(expires_in=PAST)  # the experiment itself has expired
        of_ended = catalog.resource(ended)

        report = run_expiry_cleanup(cleanup_settings, launcher)

        tasks = delete_tasks(session)
        assert sorted(r for t in tasks for r in t.resource_ids) == sorted([expired, of_ended])
        assert sorted(launcher.submitted) == sorted(t.id for t in tasks)
        for task in tasks:
            resource = catalog.get(task.resource_ids[0])
            assert (resource.status, resource.delete_task_id) == (ResourceStatus.DELETING, task.id)
            assert task.flow_run_id is not None
        assert catalog.get(current).status == ResourceStatus.ACTIVE
        assert catalog.get(current).delete_task_id is None
        assert (report.deletions.started, report.reconcile.leaks_removed) == (2, 0)

        second = run_expiry_cleanup(cleanup_settings, launcher)

        assert len(delete_tasks(session)) == 2
        assert len(launcher.submitted) == 2
        assert second.deletions.started == 0

    def test_at_most_max_deletions_are_open_at_once(
        self,
        catalog: Catalog,
        session: Session,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
        cloud: object,
    ) -> None:
        settings = cleanup_settings.model_copy(update={"expiry_cleanup_max_deletions": 3})
        experiment = catalog.experiment()
        # One deletion the API started is already open: it takes one of the three slots.
        api_task = new_id("task", SITE)
        by_api = catalog.resource(
            experiment, status=ResourceStatus.DELETING, delete_task_id=api_task
        )
        catalog.delete_task(experiment, by_api, status=TaskStatus.RUNNING, task_id=api_task)
        expired = [catalog.resource(experiment, expires_in=PAST * (n + 1)) for n in range(5)]

        first = run_expiry_cleanup(settings, launcher)

        assert (first.deletions.started, first.deletions.more_waiting) == (2, True)
        tasks = delete_tasks(session)
        assert len(tasks) == 2  # the API's, and one for the two expired of one experiment
        assert sorted(len(t.resource_ids) for t in tasks) == [1, 2]
        assert run_expiry_cleanup(settings, launcher).deletions.started == 0

        for task in delete_tasks(session):  # the deletions end
            task.status = TaskStatus.FINISHED
            for rid in task.resource_ids:
                resource = session.get(Resource, rid)
                assert resource is not None
                resource.status = ResourceStatus.DELETED
                session.add(resource)
            session.add(task)
        session.commit()

        third = run_expiry_cleanup(settings, launcher)

        assert (third.deletions.started, third.deletions.more_waiting) == (3, False)
        assert all(catalog.get(rid).delete_task_id for rid in expired)
        assert len(launcher.submitted) == 2  # one run per batch of one experiment

    def test_a_deletion_that_failed_is_resumed_after_a_short_while(
        self,
        catalog: Catalog,
        session: Session,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
        cloud: object,
    ) -> None:
        experiment = catalog.experiment()
        recent, old = new_id("task", SITE), new_id("task", SITE)
        failed_just_now = catalog.resource(
            experiment, status=ResourceStatus.DELETING, delete_task_id=recent
        )
        failed_a_while_ago = catalog.resource(
            experiment, status=ResourceStatus.DELETING, delete_task_id=old
        )
        for task_id, rid, age in ((recent, failed_just_now, 5), (old, failed_a_while_ago, 120)):
            catalog.delete_task(
                experiment,
                rid,
                status=TaskStatus.FAILED,
                age=timedelta(seconds=age),
                task_id=task_id,
            )

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert (report.deletions.resumed, report.deletions.started) == (1, 0)
        assert catalog.get(failed_just_now).delete_task_id == recent
        assert catalog.get(failed_a_while_ago).delete_task_id not in (old, None)
        assert len(launcher.submitted) == 1

    def test_a_deletion_whose_run_stopped_moving_starts_again(
        self,
        catalog: Catalog,
        session: Session,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
        cloud: object,
    ) -> None:
        experiment = catalog.experiment()
        stale, fresh = new_id("task", SITE), new_id("task", SITE)
        silent = catalog.resource(experiment, status=ResourceStatus.DELETING, delete_task_id=stale)
        moving = catalog.resource(experiment, status=ResourceStatus.DELETING, delete_task_id=fresh)
        silent_for = timedelta(seconds=cleanup_settings.run_dead_after_seconds + 10)
        catalog.delete_task(
            experiment, silent, status=TaskStatus.RUNNING, age=silent_for, task_id=stale
        )
        catalog.delete_task(experiment, moving, status=TaskStatus.RUNNING, task_id=fresh)

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert report.deletions.resumed == 1
        assert catalog.get(moving).delete_task_id == fresh
        assert catalog.get(silent).delete_task_id not in (stale, None)
        old_task = session.get(Task, stale)
        session.refresh(old_task)
        assert old_task.status == TaskStatus.FAILED
        assert "no progress" in old_task.message


class TestLeakedServers:
    def test_servers_no_live_resource_owns_are_removed(
        self,
        catalog: Catalog,
        servers: Servers,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        experiment = catalog.experiment()
        deleted = catalog.resource(experiment, status=ResourceStatus.DELETED)
        failed = catalog.resource(experiment, status=ResourceStatus.FAILED)
        leaks = [servers.slices_bi(deleted), servers.slices_bi(failed)]
        leaks.append(servers.slices_bi(new_id("res", SITE)))  # a resource the catalog never had
        active = catalog.resource(experiment)
        kept = [servers.slices_bi(active)]
        provisioning = catalog.resource(experiment, status=ResourceStatus.PROVISIONING)
        kept.append(servers.slices_bi(provisioning))
        catalog.get(active).server_id = kept[0]
        catalog.session.commit()

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert all(servers.wait_gone(sid) for sid in leaks)
        assert all(servers.exists(sid) for sid in kept)
        assert report.reconcile.leaks_removed == 3
        assert sorted(report.reconcile.removed_server_ids) == sorted(leaks)
        assert launcher.submitted == []  # leaks are deleted directly, without a task

    def test_a_second_server_of_an_active_resource_is_removed(
        self,
        catalog: Catalog,
        servers: Servers,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        experiment = catalog.experiment()
        active = catalog.resource(experiment)
        saved, duplicate = servers.slices_bi(active), servers.slices_bi(active)
        catalog.get(active).server_id = saved
        catalog.session.commit()

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert servers.wait_gone(duplicate)
        assert servers.exists(saved)
        assert report.reconcile.removed_server_ids == [duplicate]
        assert catalog.get(active).status == ResourceStatus.ACTIVE

    def test_a_leak_the_cloud_refuses_to_delete_does_not_block_the_others(
        self,
        cloud: Any,
        catalog: Catalog,
        servers: Servers,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        catalog.resource(catalog.experiment(), status=ResourceStatus.DELETED)
        locked, other = (
            servers.slices_bi(new_id("res", SITE)),
            servers.slices_bi(new_id("res", SITE)),
        )
        cloud.set_faults(
            error_count={"compute": 1}, error_status=409, match=f"^DELETE .*/servers/{locked}$"
        )

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert servers.exists(locked)
        assert servers.wait_gone(other)
        assert (report.reconcile.leaks_removed, report.reconcile.leak_errors) == (1, 1)

    def test_a_leak_younger_than_the_grace_period_is_kept(
        self,
        catalog: Catalog,
        servers: Servers,
        settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        catalog.resource(catalog.experiment(), status=ResourceStatus.DELETED)
        young = servers.slices_bi(new_id("res", SITE))

        report = run_expiry_cleanup(settings, launcher)  # default grace: 600 s

        assert servers.exists(young)
        assert (report.reconcile.leaks_removed, report.reconcile.leaks_in_grace) == (0, 1)

    def test_servers_without_this_sites_metadata_are_never_touched(
        self,
        catalog: Catalog,
        servers: Servers,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        catalog.resource(catalog.experiment(), status=ResourceStatus.DELETED)
        untouchable = [
            servers.by_hand("made-by-hand"),
            # our tag, but not our metadata
            servers.by_hand("tag-only", tags=[f"slices-bi-site:{SITE}"]),
            # our metadata keys naming another site, under our tag
            servers.by_hand(
                "other-meta",
                tags=[f"slices-bi-site:{SITE}"],
                metadata={"slices_bi_site": "other-site", "slices_bi_resource": "res_x"},
            ),
            # a server another site's slices-bi made
            servers.slices_bi(new_id("res", "other-site"), site_id="other-site"),
        ]

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert all(servers.exists(sid) for sid in untouchable)
        assert report.reconcile.leaks_removed == 0

    def test_an_empty_catalog_never_reaps(
        self,
        catalog: Catalog,
        servers: Servers,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        orphan = servers.slices_bi(new_id("res", SITE))

        report = run_expiry_cleanup(cleanup_settings, launcher)

        assert servers.exists(orphan)
        assert (report.reconcile.leaks_removed, report.reconcile.leaks_held) == (0, 1)


class TestVanishedServers:
    def test_an_active_resource_whose_server_is_gone_is_marked_failed(
        self,
        catalog: Catalog,
        servers: Servers,
        cleanup_settings: Settings,
        launcher: RecordingLauncher,
    ) -> None:
        experiment = catalog.experiment()
        vanished_server = servers.slices_bi("will-vanish")
        servers.conn.compute.delete_server(vanished_server)
        assert servers.wait_gone(vanished_server)
        vanished = catalog.resource(experiment, server_id=vanished_server)
        healthy = catalog.resource(experiment)
        catalog.get(healthy).server_id = servers.slices_bi(healthy)
        untagged = catalog.resource(experiment)  # its server lacks our tag, but it exists
        catalog.get(untagged).server_id = servers.by_hand(untagged)
        deleting = catalog.resource(
            experiment, status=ResourceStatus.DELETING, server_id="gone-while-deleting"
        )
        catalog.session.commit()

        report = run_expiry_cleanup(cleanup_settings, launcher)

        row = catalog.get(vanished)
        assert (row.status, row.status_reason) == (ResourceStatus.FAILED, "ServerVanished")
        assert vanished_server in row.status_message
        assert "outside slices-bi" in row.status_message
        for rid in (healthy, untagged):
            assert catalog.get(rid).status == ResourceStatus.ACTIVE
        assert catalog.get(deleting).status == ResourceStatus.DELETING
        assert report.reconcile.vanished_marked == 1
        assert report.reconcile.vanished_resource_ids == [vanished]

        again = run_expiry_cleanup(cleanup_settings, launcher)

        assert again.reconcile.vanished_marked == 0


class TestMarkServerVanished:
    """The guard against a race: the row may have moved on since the cleanup read it."""

    def test_only_an_active_row_still_on_that_server_is_marked(
        self, catalog: Catalog, session: Session
    ) -> None:
        experiment = catalog.experiment()
        deleting = catalog.resource(experiment, status=ResourceStatus.DELETING, server_id="s-1")
        moved = catalog.resource(experiment, server_id="s-new")
        active = catalog.resource(experiment, server_id="s-3")
        now = datetime.now(UTC)

        assert not reconcile.mark_server_vanished(
            session, resource_id=deleting, server_id="s-1", now=now
        )
        assert not reconcile.mark_server_vanished(
            session, resource_id=moved, server_id="s-old", now=now
        )
        assert reconcile.mark_server_vanished(session, resource_id=active, server_id="s-3", now=now)
        session.commit()

        assert catalog.get(deleting).status == ResourceStatus.DELETING
        assert catalog.get(moved).status == ResourceStatus.ACTIVE
        assert catalog.get(active).status == ResourceStatus.FAILED
