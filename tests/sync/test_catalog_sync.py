"""catalog-sync against devcloud over HTTP and the real catalog database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from openstack.connection import Connection
from sqlmodel import Session, select

from slices_bi.catalog import offerings, repository
from slices_bi.catalog.models import DiskImage, Flavor
from slices_bi.catalog.offering_bodies import DiskImageCreate, DiskImageUpdate, FlavorCreate
from slices_bi.flows.catalog_sync import run_catalog_sync
from slices_bi.openstack.errors import CloudError
from slices_bi.settings import Settings
from tests.sync.conftest import WriteRecorder


def images(session: Session) -> dict[str, DiskImage]:
    session.expire_all()
    return {row.friendly_name: row for row in session.exec(select(DiskImage))}


def flavors(session: Session) -> dict[str, Flavor]:
    session.expire_all()
    return {row.friendly_name: row for row in session.exec(select(Flavor))}


def updated_at(session: Session) -> dict[str, datetime]:
    stamps = {r.id: r.updated_at for r in images(session).values()}
    stamps.update({r.id: r.updated_at for r in flavors(session).values()})
    return stamps


def cloud_image(conn: Connection, name: str) -> Any:
    return conn.image.find_image(name, ignore_missing=False)


class TestFirstSync:
    def test_fills_the_catalog_with_the_clouds_images_and_flavors(
        self, cloud: Any, conn: Connection, session: Session, sync_settings: Settings
    ) -> None:
        report = run_catalog_sync(sync_settings)

        rows = images(session)
        cloud_images = {i.name: i for i in conn.image.images()}
        assert set(rows) == set(cloud_images)
        for name, image in cloud_images.items():
            row = rows[name]
            assert (row.origin, row.cloud_id, row.location) == ("sync", image.id, image.id)
            assert row.id.startswith("image_tld-city-bp1_")
            assert row.min_disk_mb == (image.min_disk or 0) * 1024
            assert row.min_ram_mib == (image.min_ram or 0)
            assert row.tags == sorted(image.tags or [])
            assert not row.missing_from_cloud
            assert not row.hidden
        assert rows["Ubuntu 22.04.5"].default_username == "ubuntu"  # os_admin_user
        assert rows["Debian 12.5"].default_username == "experimenter"  # no property: setting

        cloud_flavors = {f.name: f for f in conn.compute.flavors(details=True)}
        frows = flavors(session)
        assert set(frows) == set(cloud_flavors)
        for name, flavor in cloud_flavors.items():
            frow = frows[name]
            assert (frow.cloud_id, frow.location, frow.flavor_type) == (flavor.id, flavor.id, "vm")
            assert (frow.vcpus, frow.ram_mib, frow.disk_mb) == (
                flavor.vcpus,
                flavor.ram,
                flavor.disk * 1024,
            )
        assert (report.images.added, report.flavors.added) == (len(rows), len(frows))
        assert f"| images | {len(rows)} | {len(rows)} | 0 |" in report.to_markdown()

    def test_lists_in_pages_without_a_call_per_image_or_flavor(
        self, cloud: Any, sync_settings: Settings
    ) -> None:
        cloud.seed(images=150, flavors=40)
        run_catalog_sync(sync_settings)  # authenticates and discovers endpoints
        cloud.reset_counters()

        report = run_catalog_sync(sync_settings.model_copy())

        calls = cloud.counters()
        assert report.images.in_cloud == 153
        assert report.flavors.in_cloud == 44
        # One image listing per visibility value (public, shared, community), one flavor listing.
        assert calls.get("GET /image/v2/images") == 3
        assert calls.get("GET /compute/v2.1/flavors/detail") == 1
        assert sum(calls.values()) == 4, calls


class TestIdempotence:
    def test_second_sync_of_an_unchanged_cloud_writes_nothing(
        self, cloud: Any, session: Session, sync_settings: Settings, writes: WriteRecorder
    ) -> None:
        run_catalog_sync(sync_settings)
        before = updated_at(session)
        assert len(before) == 7
        writes.statements.clear()

        report = run_catalog_sync(sync_settings)

        assert writes.statements == []
        assert updated_at(session) == before
        assert not report.changed
        assert (report.images.unchanged, report.flavors.unchanged) == (3, 4)

    def test_a_changed_image_is_updated_and_only_it(
        self, conn: Connection, session: Session, sync_settings: Settings, writes: WriteRecorder
    ) -> None:
        run_catalog_sync(sync_settings)
        before = {name: (r.id, r.updated_at) for name, r in images(session).items()}
        image = cloud_image(conn, "Ubuntu 24.04.1")
        conn.image.update_image(image, name="Ubuntu 24.04.2", min_disk=9)
        writes.statements.clear()

        report = run_catalog_sync(sync_settings)

        rows = images(session)
        assert "Ubuntu 24.04.1" not in rows
        changed = rows["Ubuntu 24.04.2"]
        assert (changed.id, changed.min_disk_mb) == (before["Ubuntu 24.04.1"][0], 9 * 1024)
        assert changed.updated_at > before["Ubuntu 24.04.1"][1]
        assert rows["Debian 12.5"].updated_at == before["Debian 12.5"][1]
        assert report.images.updated == 1
        assert report.images.added == 0
        assert [s.split()[0].upper() for s in writes.statements] == ["UPDATE"]


class TestGoneFromTheCloud:
    def test_a_removed_image_is_hidden_kept_and_unhidden_when_it_comes_back(
        self, cloud: Any, conn: Connection, session: Session, sync_settings: Settings
    ) -> None:
        run_catalog_sync(sync_settings)
        debian_id = images(session)["Debian 12.5"].id
        conn.image.delete_image(cloud_image(conn, "Debian 12.5").id)

        report = run_catalog_sync(sync_settings)

        row = images(session)["Debian 12.5"]
        assert row.id == debian_id
        assert row.missing_from_cloud
        assert not row.hidden
        assert report.images.hidden == 1
        assert debian_id not in {r.id for r in repository.list_disk_images(session)}

        cloud.reset(faults=False, counters=False, config=False)  # the seeded image is back
        report = run_catalog_sync(sync_settings)

        assert not images(session)["Debian 12.5"].missing_from_cloud
        assert report.images.unhidden == 1
        assert debian_id in {r.id for r in repository.list_disk_images(session)}

    def test_a_removed_flavor_is_hidden_not_deleted(
        self, conn: Connection, session: Session, sync_settings: Settings
    ) -> None:
        run_catalog_sync(sync_settings)
        conn.compute.delete_flavor(conn.compute.find_flavor("m1.large", ignore_missing=False))

        report = run_catalog_sync(sync_settings)

        assert flavors(session)["m1.large"].missing_from_cloud
        assert report.flavors.hidden == 1
        assert len(flavors(session)) == 4

    def test_a_cloud_error_leaves_the_catalog_untouched(
        self, cloud: Any, conn: Connection, session: Session, sync_settings: Settings
    ) -> None:
        run_catalog_sync(sync_settings)
        conn.image.delete_image(cloud_image(conn, "Debian 12.5").id)
        before = {r.id: (r.updated_at, r.missing_from_cloud) for r in images(session).values()}
        # Images list fine, flavors fail: the image listing must not be applied alone.
        cloud.set_faults(error_count={"compute": 5})

        with pytest.raises(CloudError) as failure:
            run_catalog_sync(sync_settings)

        assert failure.value.transient
        after = {r.id: (r.updated_at, r.missing_from_cloud) for r in images(session).values()}
        assert after == before


class TestAdminEntries:
    def test_fields_an_admin_edited_survive_a_sync(
        self, conn: Connection, session: Session, sync_settings: Settings
    ) -> None:
        run_catalog_sync(sync_settings)
        row = images(session)["Ubuntu 22.04.5"]
        offerings.update(
            session,
            DiskImage,
            row.id,
            DiskImageUpdate(friendly_name="Ubuntu LTS", short_description="our pick", hidden=True),
        )
        conn.image.update_image(
            cloud_image(conn, "Ubuntu 22.04.5"), name="Ubuntu 22.04.6", min_disk=7
        )

        run_catalog_sync(sync_settings)

        edited = images(session)["Ubuntu LTS"]
        assert (edited.short_description, edited.hidden) == ("our pick", True)
        assert edited.min_disk_mb == 7 * 1024  # not edited by the admin: follows the cloud
        assert "Ubuntu 22.04.6" not in images(session)

    def test_an_admin_row_pointing_at_a_cloud_item_is_linked_not_duplicated(
        self, conn: Connection, session: Session, sync_settings: Settings
    ) -> None:
        ubuntu = cloud_image(conn, "Ubuntu 24.04.1")
        admin_image = offerings.create(
            session,
            DiskImage,
            DiskImageCreate(friendly_name="Ubuntu (admin)", location=ubuntu.id, min_disk_mb=1),
        )
        admin_flavor = offerings.create(
            session,
            Flavor,
            FlavorCreate(friendly_name="Small (admin)", vcpus=1, ram_mib=2048, location="m1.small"),
        )

        report = run_catalog_sync(sync_settings)

        rows = images(session)
        assert "Ubuntu 24.04.1" not in rows
        assert len(rows) == 3
        linked = rows["Ubuntu (admin)"]
        assert (linked.id, linked.cloud_id, linked.min_disk_mb) == (admin_image.id, ubuntu.id, 1)
        assert linked.origin == "admin"
        frows = flavors(session)
        assert "m1.small" not in frows
        assert frows["Small (admin)"].id == admin_flavor.id
        assert (
            frows["Small (admin)"].cloud_id
            == conn.compute.find_flavor("m1.small", ignore_missing=False).id
        )
        assert (report.images.linked, report.images.added) == (1, 2)

        conn.image.delete_image(ubuntu.id)
        run_catalog_sync(sync_settings)

        gone = images(session)["Ubuntu (admin)"]
        assert gone.missing_from_cloud
        assert gone.friendly_name == "Ubuntu (admin)"


class TestFilters:
    @pytest.fixture
    def extra_images(self, cloud: Any) -> None:
        cloud.seed(
            images=[
                {"name": "Community Arch", "visibility": "community"},
                {"name": "Private Build", "visibility": "private"},
                {"name": "Shared CUDA", "visibility": "shared", "tags": ["gpu"]},
                {"name": "Ubuntu GPU", "visibility": "public", "tags": ["gpu", "lts"]},
                {"name": "Queued Upload", "status": "queued"},
            ]
        )

    @pytest.mark.usefixtures("extra_images")
    @pytest.mark.parametrize(
        ("update", "expected"),
        [
            (
                {},
                {"Ubuntu 22.04.5", "Ubuntu 24.04.1", "Debian 12.5", "Community Arch"}
                | {"Shared CUDA", "Ubuntu GPU"},
            ),
            (
                {"catalog_sync_image_visibility": ["public"]},
                {"Ubuntu 22.04.5", "Ubuntu 24.04.1", "Debian 12.5", "Ubuntu GPU"},
            ),
            ({"catalog_sync_image_tag": "gpu"}, {"Shared CUDA", "Ubuntu GPU"}),
            (
                {"catalog_sync_image_name_pattern": "^Ubuntu"},
                {"Ubuntu 22.04.5", "Ubuntu 24.04.1", "Ubuntu GPU"},
            ),
            (
                {"catalog_sync_image_name_pattern": "^Ubuntu", "catalog_sync_image_tag": "gpu"},
                {"Ubuntu GPU"},
            ),
        ],
    )
    def test_settings_select_the_images(
        self, session: Session, sync_settings: Settings, update: dict[str, Any], expected: set[str]
    ) -> None:
        run_catalog_sync(sync_settings.model_copy(update=update))

        assert set(images(session)) == expected

    @pytest.mark.usefixtures("extra_images")
    def test_an_image_the_filter_now_excludes_is_hidden(
        self, session: Session, sync_settings: Settings
    ) -> None:
        run_catalog_sync(sync_settings)

        report = run_catalog_sync(
            sync_settings.model_copy(update={"catalog_sync_image_tag": "gpu"})
        )

        visible = {r.friendly_name for r in images(session).values() if not r.missing_from_cloud}
        assert visible == {"Shared CUDA", "Ubuntu GPU"}
        assert report.images.hidden == 4
        assert len(images(session)) == 6
