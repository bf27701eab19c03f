"""Glance v2 through openstacksdk and raw HTTP."""

import httpx
import pytest
from openstack import exceptions
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer


def test_seeded_images(conn: Connection) -> None:
    images = {i.name: i for i in conn.image.images()}
    assert set(images) == {"Ubuntu 22.04.5", "Ubuntu 24.04.1", "Debian 12.5"}
    ubuntu = images["Ubuntu 22.04.5"]
    assert (ubuntu.status, ubuntu.visibility) == ("active", "public")
    assert ubuntu.os_admin_user == "ubuntu"
    assert ubuntu.min_disk == 3
    assert ubuntu.min_ram == 0
    assert ubuntu.created_at.endswith("Z")
    assert ubuntu.tags == []
    assert images["Debian 12.5"].os_admin_user is None
    assert images["Ubuntu 24.04.1"].min_ram == 1024


def test_paging_follows_glance_next_links(dc: DevcloudServer, conn: Connection) -> None:
    assert dc.seed(images=23) == {"images": 23, "flavors": 0}
    dc.reset_counters()
    names = [i.name for i in conn.image.images(limit=5)]
    assert len(names) == len(set(names)) == 26
    # 6 pages; the SDK asks once more after a short page when it was given a limit
    assert dc.counters() == {"GET /image/v2/images": 7}


def test_next_link_has_glance_form(dc: DevcloudServer, token: str) -> None:
    headers = {"X-Auth-Token": token}
    first = httpx.get(f"{dc.url}/image/v2/images?limit=2", headers=headers).json()
    assert len(first["images"]) == 2
    marker = first["images"][-1]["id"]
    assert first["next"] == f"/v2/images?marker={marker}&limit=2"
    rest = httpx.get(f"{dc.url}/image{first['next']}", headers=headers).json()
    assert len(rest["images"]) == 1
    assert "next" not in rest
    unknown = httpx.get(f"{dc.url}/image/v2/images?marker=nope", headers=headers)
    assert unknown.status_code == 400


def test_filters_and_sorting(dc: DevcloudServer, conn: Connection) -> None:
    dc.seed(
        images=[{"name": "tagged", "tags": ["gpu"]}, {"name": "hidden", "visibility": "private"}]
    )
    assert [i.name for i in conn.image.images(tag="gpu")] == ["tagged"]
    assert [i.name for i in conn.image.images(name="Debian 12.5")] == ["Debian 12.5"]
    assert [i.name for i in conn.image.images(visibility="private")] == ["hidden"]
    by_name = [i.name for i in conn.image.images(sort="name:asc")]
    assert by_name == sorted(by_name)


def test_create_upload_update_delete(conn: Connection) -> None:
    image = conn.image.create_image(
        name="mine", data=b"disk bytes", disk_format="raw", container_format="bare"
    )
    fetched = conn.image.get_image(image.id)
    assert (fetched.status, fetched.size) == ("active", 10)
    conn.image.update_image(image, os_admin_user="root", min_disk=2)
    updated = conn.image.get_image(image.id)
    assert (updated.os_admin_user, updated.min_disk) == ("root", 2)
    conn.image.delete_image(image)
    with pytest.raises(exceptions.NotFoundException):
        conn.image.get_image(image.id)


def test_metadata_only_create_is_queued(dc: DevcloudServer, token: str) -> None:
    body = {"name": "meta", "disk_format": "qcow2", "container_format": "bare", "os_distro": "x"}
    response = httpx.post(f"{dc.url}/image/v2/images", json=body, headers={"X-Auth-Token": token})
    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    assert response.json()["os_distro"] == "x"
    missing = httpx.get(f"{dc.url}/image/v2/images/nope", headers={"X-Auth-Token": token})
    assert missing.status_code == 404
    assert "No image found with ID nope" in missing.text
