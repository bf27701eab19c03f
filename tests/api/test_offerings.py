"""Disk images and flavors: reads for any valid token, writes for admins only."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from slices_bi.catalog.models import DiskImage, Flavor, Resource, ResourceStatus
from tests.api.conftest import bearer

IMAGE = {
    "friendly_name": "Debian 12",
    "location": "debian-12",
    "default_username": "debian",
    "min_disk_mb": 8192,
}
FLAVOR = {
    "friendly_name": "m1.large",
    "vcpus": 4,
    "ram_mib": 8192,
    "disk_mb": 40960,
    "location": "m1.large",
}


@pytest.mark.parametrize(("path", "body"), [("/disk-images", IMAGE), ("/flavors", FLAVOR)])
class TestAdminWrites:
    def test_admin_creates_reads_edits_and_deletes(self, client, tokens, path, body):
        created = client.post(path, json=body, headers=bearer(tokens.admin()))
        assert created.status_code == 201, created.text
        entry = created.json()
        assert entry["id"].startswith(("image_tld-city-bp1_", "flavor_tld-city-bp1_"))

        listed = client.get(path, headers=bearer(tokens.experiment())).json()
        assert [e["id"] for e in listed["data"]] == [entry["id"]]
        assert listed["count"] == 1

        patched = client.patch(
            f"{path}/{entry['id']}",
            json={"friendly_name": "renamed"},
            headers=bearer(tokens.admin()),
        )
        assert patched.status_code == 200
        assert patched.json()["friendly_name"] == "renamed"

        assert (
            client.delete(f"{path}/{entry['id']}", headers=bearer(tokens.admin())).status_code
            == 204
        )
        missing = client.get(f"{path}/{entry['id']}", headers=bearer(tokens.user()))
        assert missing.status_code == 404
        assert set(missing.json()) == {"error", "detail"}

    def test_non_admin_cannot_write(self, client, tokens, session, path, body):
        for token in (tokens.user(), tokens.experiment()):
            response = client.post(path, json=body, headers=bearer(token))
            assert response.status_code == 403
            assert response.json()["error"] == "admin_required"
        assert session.exec(select(DiskImage)).all() == []
        assert session.exec(select(Flavor)).all() == []

    def test_unknown_field_and_bad_values_are_refused(self, client, tokens, path, body):
        response = client.post(path, json={**body, "surprise": 1}, headers=bearer(tokens.admin()))
        assert response.status_code == 422
        assert "surprise" in response.json()["detail"]
        response = client.post(
            path, json={**body, "friendly_name": ""}, headers=bearer(tokens.admin())
        )
        assert response.status_code == 422
        assert "friendly_name" in response.json()["detail"]
        huge = {"disk_mb": 3_000_000_000} if "vcpus" in body else {"min_disk_mb": 3_000_000_000}
        response = client.post(path, json={**body, **huge}, headers=bearer(tokens.admin()))
        assert response.status_code == 422
        assert next(iter(huge)) in response.json()["detail"]

    def test_patch_with_null_is_refused(self, client, tokens, path, body):
        entry = client.post(path, json=body, headers=bearer(tokens.admin())).json()
        response = client.patch(
            f"{path}/{entry['id']}", json={"friendly_name": None}, headers=bearer(tokens.admin())
        )
        assert response.status_code == 422
        assert response.json()["error"] == "validation_error"
        assert "friendly_name" in response.json()["detail"]
        unchanged = client.get(f"{path}/{entry['id']}", headers=bearer(tokens.admin())).json()
        assert unchanged["friendly_name"] == body["friendly_name"]

    def test_nul_and_control_characters_are_refused(self, client, tokens, path, body, session):
        entry = client.post(path, json=body, headers=bearer(tokens.admin())).json()
        for field in ("friendly_name", "location"):
            for bad in ("a\u0000b", "a\nb", "a\u001bb"):
                created = client.post(
                    path, json={**body, field: bad}, headers=bearer(tokens.admin())
                )
                assert created.status_code == 422, (field, bad, created.text)
                assert field in created.json()["detail"]
                patched = client.patch(
                    f"{path}/{entry['id']}", json={field: bad}, headers=bearer(tokens.admin())
                )
                assert patched.status_code == 422, (field, bad, patched.text)
        session.expire_all()
        model = DiskImage if "disk" in path else Flavor
        [row] = session.exec(select(model)).all()
        assert (row.friendly_name, row.location) == (body["friendly_name"], body["location"])

    def test_types_are_not_coerced(self, client, tokens, path, body):
        numeric = "vcpus" if "vcpus" in body else "min_disk_mb"
        for bad in ({"hidden": 0}, {"hidden": "yes"}, {numeric: True}, {numeric: "4"}):
            response = client.post(path, json={**body, **bad}, headers=bearer(tokens.admin()))
            assert response.status_code == 422, (bad, response.text)
            assert next(iter(bad)) in response.json()["detail"]


def test_image_tags_are_bounded(client, tokens):
    admin = bearer(tokens.admin())
    for tags in (["t"] * 10_000, ["x" * 100_000], [""], ["a\u0000"]):
        response = client.post("/disk-images", json={**IMAGE, "tags": tags}, headers=admin)
        assert response.status_code == 422, response.text[:200]
        assert "tags" in response.json()["detail"]
    created = client.post("/disk-images", json={**IMAGE, "tags": ["ubuntu"] * 32}, headers=admin)
    assert created.status_code == 201
    patched = client.patch(
        f"/disk-images/{created.json()['id']}", json={"tags": ["y" * 65]}, headers=admin
    )
    assert patched.status_code == 422


def test_reads_need_a_token(client):
    response = client.get("/disk-images")
    assert response.status_code == 401
    assert response.json()["error"] == "token_missing"
    assert client.get("/flavors", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401


def test_hidden_entries_are_listed_for_admins_only(client, tokens, image, session):
    image.hidden = True
    session.add(image)
    session.commit()
    assert client.get("/disk-images", headers=bearer(tokens.user())).json()["count"] == 0
    assert client.get(f"/disk-images/{image.id}", headers=bearer(tokens.user())).status_code == 404
    admin_view = client.get(
        "/disk-images?include_hidden=true", headers=bearer(tokens.admin())
    ).json()
    assert [e["id"] for e in admin_view["data"]] == [image.id]


def test_an_image_in_use_cannot_be_deleted(client, tokens, image, flavor, session: Session):
    from datetime import UTC, datetime, timedelta

    from slices_bi.catalog.models import Experiment

    session.add(Experiment(id="exp_test_inuse"))
    session.add(
        Resource(
            id="res_tld-city-bp1_01jdem0000000000000000000000",
            experiment_id="exp_test_inuse",
            friendly_name="vm",
            disk_image_id=image.id,
            flavor_id=flavor.id,
            status=ResourceStatus.ACTIVE,
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    )
    session.commit()
    response = client.delete(f"/disk-images/{image.id}", headers=bearer(tokens.admin()))
    assert response.status_code == 409
    assert "hide it instead" in response.json()["detail"]
    assert client.delete(f"/flavors/{flavor.id}", headers=bearer(tokens.admin())).status_code == 409
