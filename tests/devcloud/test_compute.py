"""Nova through the unmodified openstacksdk (and raw HTTP for shapes/microversions)."""

import base64
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from openstack import exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import compute_headers, poll, server_gone

Boot = Callable[..., Server]


def test_flavors_list_get_create_delete(conn: Connection) -> None:
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert set(flavors) == {"m1.tiny", "m1.small", "m1.medium", "m1.large"}
    assert (flavors["m1.medium"].vcpus, flavors["m1.medium"].ram, flavors["m1.medium"].disk) == (
        2,
        4096,
        40,
    )
    assert conn.compute.get_flavor("2").name == "m1.small"
    assert conn.compute.find_flavor("m1.large").vcpus == 4
    made = conn.compute.create_flavor(name="c1.big", vcpus=16, ram=65536, disk=200)
    assert conn.compute.get_flavor(made.id).vcpus == 16
    with pytest.raises(exceptions.ConflictException):
        conn.compute.create_flavor(name="c1.big", vcpus=1, ram=1, disk=1)
    conn.compute.delete_flavor(made)
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_flavor(made.id)


def test_create_wait_show_delete(conn: Connection, boot: Boot, image_id: str) -> None:
    user_data = base64.b64encode(b"#cloud-config\n").decode()
    created = boot(name="web-1", user_data=user_data, metadata={"k": "v"}, tags=["a", "b"])
    assert created.admin_password
    server = conn.compute.wait_for_server(created, wait=10, interval=0.05)
    assert server.status == "ACTIVE"
    assert server.vm_state == "active"
    assert server.task_state is None
    assert server.power_state == 1
    assert server.metadata == {"k": "v"}
    assert server.tags == ["a", "b"]
    assert server.user_data == user_data
    assert server.image.id == image_id
    assert server.flavor.original_name == "m1.tiny"
    assert server.created_at
    assert server.updated_at
    assert server.launched_at
    (address,) = server.addresses["private"]
    assert address["addr"].startswith("10.0.0.")
    assert address["OS-EXT-IPS:type"] == "fixed"
    assert conn.compute.get_server(server.id).addresses == server.addresses
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=5, interval=0.05)
    assert poll(lambda: server_gone(conn, server.id))  # after a moment of DELETED


def test_boot_delay_shows_build_then_active(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_boot_delay(0.4)
    server = conn.compute.get_server(boot().id)
    assert (server.status, server.vm_state, server.task_state) == ("BUILD", "building", "spawning")
    assert server.launched_at is None
    assert conn.compute.wait_for_server(server, wait=5, interval=0.1).status == "ACTIVE"


def test_delete_delay_shows_deleting_then_404(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_config(delete_delay=0.4, deleted_visible=0)
    server = conn.compute.wait_for_server(boot(), wait=5, interval=0.05)
    conn.compute.delete_server(server)
    deleting = conn.compute.get_server(server.id)
    assert deleting.task_state == "deleting"
    conn.compute.wait_for_delete(server, wait=5, interval=0.1)
    assert conn.compute.find_server(server.id) is None


def test_list_filters_like_nova(conn: Connection, boot: Boot) -> None:
    boot(name="web-1", tags=["site:a", "web"])
    boot(name="web-2", tags=["site:a"])
    boot(name="db-1", tags=["site:b"])
    names = lambda **q: sorted(s.name for s in conn.compute.servers(**q))  # noqa: E731
    assert names() == ["db-1", "web-1", "web-2"]
    assert names(name="^web-") == ["web-1", "web-2"]
    assert names(name="1$") == ["db-1", "web-1"]
    assert names(tags="site:a,web") == ["web-1"]
    assert names(tags=["site:a"]) == ["web-1", "web-2"]
    assert names(any_tags="web,site:b") == ["db-1", "web-1"]
    assert names(status="ACTIVE") == ["db-1", "web-1", "web-2"]
    assert names(status="ERROR") == []
    assert [s.name for s in conn.compute.servers(details=False, name="db")] == ["db-1"]


def test_changes_since_lists_what_changed_deleted_servers_included(
    dc: DevcloudServer, conn: Connection, boot: Boot, token: str
) -> None:
    dc.set_config(boot_delay=0, delete_delay=0, deleted_visible=30)
    conn.compute.wait_for_server(boot(name="quiet"), wait=5, interval=0.05)
    gone = conn.compute.wait_for_server(boot(name="gone"), wait=5, interval=0.05)
    time.sleep(1.1)  # Nova's times have seconds; the next change is strictly later
    mark = conn.compute.get_server(gone.id).updated_at
    since = datetime.fromisoformat(mark.replace("Z", "+00:00")) + timedelta(seconds=1)
    time.sleep(1.1)
    conn.compute.delete_server(gone)
    boot(name="fresh")
    changed = {s.name: s.status for s in conn.compute.servers(changes_since=since.isoformat())}
    assert changed.get("gone") == "DELETED"  # as Nova: deleted servers come with changes-since
    assert "fresh" in changed
    assert "quiet" not in changed
    assert "gone" not in {s.name for s in conn.compute.servers()}  # not without it
    response = httpx.get(
        f"{dc.url}/compute/v2.1/servers/detail?changes-since=yesterday",
        headers={"X-Auth-Token": token},
    )
    assert response.status_code == 400


def test_list_pages_with_limit_and_marker(dc: DevcloudServer, conn: Connection, boot: Boot) -> None:
    made = [boot(name=f"p-{n}").id for n in range(7)]
    dc.reset_counters()
    listed = [s.id for s in conn.compute.servers(limit=3)]
    assert listed == list(reversed(made))  # newest first, as Nova
    assert dc.counters()["GET /compute/v2.1/servers/detail"] == 4  # 3 + 3 + 1 + empty page


def test_an_unknown_marker_is_novas_400(dc: DevcloudServer, token: str) -> None:
    for path in ("servers", "servers/detail", "flavors", "flavors/detail"):
        response = httpx.get(
            f"{dc.url}/compute/v2.1/{path}?marker=nope", headers={"X-Auth-Token": token}
        )
        assert response.status_code == 400, path
        assert response.json()["badRequest"]["message"] == "marker [nope] not found"


def test_keypairs(conn: Connection) -> None:
    generated = conn.compute.create_keypair(name="gen")
    assert generated.private_key.startswith("-----BEGIN")
    assert generated.public_key.startswith("ssh-rsa ")
    public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGV5ZW1hbGxvd2VkYXRvbWljaGFpcnlib3JlZGNhdHM= me@x"
    imported = conn.compute.create_keypair(name="imp", public_key=public)
    assert imported.private_key is None
    assert imported.fingerprint.count(":") == 15
    assert sorted(k.name for k in conn.compute.keypairs()) == ["gen", "imp"]
    assert conn.compute.get_keypair("imp").public_key == public
    with pytest.raises(exceptions.ConflictException):
        conn.compute.create_keypair(name="imp", public_key=public)
    with pytest.raises(exceptions.BadRequestException):
        conn.compute.create_keypair(name="bad", public_key="not a key")
    conn.compute.delete_keypair("gen")
    assert [k.name for k in conn.compute.keypairs()] == ["imp"]
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_keypair("gen")


def test_key_name_must_exist(conn: Connection, boot: Boot) -> None:
    with pytest.raises(exceptions.BadRequestException, match="Invalid key_name"):
        boot(key_name="nope")
    conn.compute.create_keypair(name="k")
    assert conn.compute.get_server(boot(key_name="k").id).key_name == "k"


def test_limits_count_usage(dc: DevcloudServer, conn: Connection, boot: Boot) -> None:
    dc.set_faults(quota={"instances": 10, "cores": 20, "ram": 51200})
    boot()
    boot()
    limits = conn.compute.get_limits().absolute
    assert (limits.instances, limits.instances_used) == (10, 2)
    assert (limits.total_cores, limits.total_cores_used) == (20, 2)
    assert (limits.total_ram, limits.total_ram_used) == (51200, 1024)


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"image_id": "nope"}, "Image nope could not be found."),
        ({"flavor_id": "99"}, "Flavor 99 could not be found."),
        ({"networks": [{"uuid": "nope"}]}, "Network nope could not be found."),
        ({"user_data": "%%%"}, "user_data"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"flavor_id": "1", "image_id": "UBUNTU"}, "Flavor's disk is too small"),
    ],
)
def test_validation_errors_are_nova_400s(
    conn: Connection, image_id: str, private_net_id: str, attrs: dict[str, Any], message: str
) -> None:
    if attrs.get("image_id") == "UBUNTU":
        attrs["image_id"] = conn.image.find_image("Ubuntu 24.04.1").id
    spec = {
        "name": "x",
        "image_id": image_id,
        "flavor_id": "1",
        "networks": [{"uuid": private_net_id}],
    }
    with pytest.raises(exceptions.BadRequestException, match=message):
        conn.compute.create_server(**{**spec, **attrs})


def test_error_bodies_have_nova_shapes(dc: DevcloudServer, token: str) -> None:
    base = f"{dc.url}/compute/v2.1"
    missing = httpx.get(f"{base}/servers/nope", headers=compute_headers(token))
    assert missing.status_code == 404
    assert missing.json() == {
        "itemNotFound": {"code": 404, "message": "Instance nope could not be found."}
    }
    body = {"server": {"name": "x", "imageRef": "nope", "flavorRef": "1", "networks": "none"}}
    bad = httpx.post(f"{base}/servers", json=body, headers=compute_headers(token, "2.79"))
    assert bad.status_code == 400
    assert bad.json()["badRequest"]["code"] == 400
    no_networks = {"server": {"name": "x", "imageRef": "x", "flavorRef": "1"}}
    required = httpx.post(
        f"{base}/servers", json=no_networks, headers=compute_headers(token, "2.37")
    )
    assert required.status_code == 400


def test_metadata_tags_and_ips_endpoints(conn: Connection, boot: Boot) -> None:
    server = boot(metadata={"a": "1"}, tags=["x"])
    conn.compute.set_server_metadata(server, b="2")
    assert conn.compute.get_server_metadata(server).metadata == {"a": "1", "b": "2"}
    conn.compute.delete_server_metadata(server, ["a"])
    assert conn.compute.get_server(server.id).metadata == {"b": "2"}
    conn.compute.add_tag_to_server(server, "y")
    conn.compute.remove_tag_from_server(server, "x")
    assert conn.compute.get_server(server.id).tags == ["y"]
    ips = conn.compute.get(f"/servers/{server.id}/ips").json()["addresses"]
    assert ips == conn.compute.get_server(server.id).addresses


def test_networks_auto_none_and_existing_port(
    conn: Connection, boot: Boot, private_net_id: str
) -> None:
    assert conn.compute.get_server(boot(networks="none").id).addresses == {}
    assert list(conn.compute.get_server(boot(networks="auto").id).addresses) == ["private"]
    port = conn.network.create_port(network_id=private_net_id, name="mine")
    server = boot(networks=[{"port": port.id}])
    assert conn.network.get_port(port.id).device_id == server.id
    with pytest.raises(exceptions.ConflictException, match="still in use"):
        boot(networks=[{"port": port.id}])
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=5, interval=0.05)
    kept = conn.network.get_port(port.id)  # not ours to delete: only unbound
    assert kept.device_id == ""


def test_server_actions(conn: Connection, boot: Boot) -> None:
    server = conn.compute.wait_for_server(boot(), wait=5, interval=0.05)
    conn.compute.stop_server(server)
    assert conn.compute.get_server(server.id).status == "SHUTOFF"
    conn.compute.start_server(server)
    assert conn.compute.get_server(server.id).status == "ACTIVE"
    conn.compute.update_server(server, name="renamed")
    assert conn.compute.get_server(server.id).name == "renamed"
