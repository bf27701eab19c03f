"""The OpenStack adapter (compute, network, boot) against devcloud over HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openstack.connection import Connection

from slices_bi.ids import new_id
from slices_bi.openstack import boot, compute, errors, network

SITE = "tld-city-bp1"


@pytest.fixture
def conn(devcloud: Any) -> Iterator[Connection]:
    connection = devcloud.connect()
    yield connection
    connection.close()


@pytest.fixture
def boot_ids(conn: Connection) -> dict[str, str]:
    return {
        "image_id": boot.resolve_image(conn, "Ubuntu 22.04.5", label="Ubuntu", image_id="image_x"),
        "flavor_id": boot.resolve_flavor(conn, "m1.small", label="small", flavor_id="flavor_x"),
        "network_id": str(network.resolve_network(conn, "private").id),
    }


def make_server(
    conn: Connection, boot_ids: dict[str, str], rid: str, site: str = SITE, **kw: Any
) -> Any:
    return compute.create_server(
        conn, resource_id=rid, site_id=site, experiment_id="exp-1", **boot_ids, **kw
    )


def test_server_carries_name_metadata_tag_and_user_data(
    conn: Connection, boot_ids: dict[str, str]
) -> None:
    rid = new_id("res", SITE)
    created = make_server(conn, boot_ids, rid, user_data="#cloud-config\nruncmd: [true]\n")
    server = compute.wait_for_active(conn, created.id, timeout=10, interval=0.2)
    assert server.name == rid
    assert server.metadata == {
        "slices_bi_site": SITE,
        "slices_bi_resource": rid,
        "slices_bi_experiment": "exp-1",
    }
    assert server.tags == [f"slices-bi-site:{SITE}"]
    assert base64.b64decode(server.user_data).decode() == "#cloud-config\nruncmd: [true]\n"
    private, floating = compute.server_addresses(server)
    assert private is not None
    assert private.startswith("10.0.0.")
    assert floating is None


def test_find_and_list_only_see_our_servers(
    conn: Connection, boot_ids: dict[str, str], devcloud: Any
) -> None:
    rid = new_id("res", SITE)
    ours = make_server(conn, boot_ids, rid)
    other_site = make_server(conn, boot_ids, new_id("res", "other-site"), site="other-site")
    # same name, made by hand without our metadata/tag: never adopted, never listed
    conn.compute.create_server(
        name=rid + "x",
        flavor_id=boot_ids["flavor_id"],
        image_id=boot_ids["image_id"],
        networks=[{"uuid": boot_ids["network_id"]}],
    )
    found = compute.find_server_for_resource(conn, rid, SITE)
    assert found is not None
    assert found.id == ours.id
    assert compute.find_server_for_resource(conn, new_id("res", SITE), SITE) is None
    assert [s.id for s in compute.list_site_servers(conn, SITE)] == [ours.id]
    assert [s.id for s in compute.list_site_servers(conn, "other-site")] == [other_site.id]


def test_site_tag_fits_nova_limit() -> None:
    assert compute.site_tag(SITE) == "slices-bi-site:tld-city-bp1"
    with pytest.raises(ValueError, match="invalid Nova tag"):
        compute.site_tag("x" * 50)


def test_get_raises_find_returns_none_delete_is_idempotent(
    conn: Connection, boot_ids: dict[str, str]
) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(errors.NotFoundError) as info:
        compute.get_server(conn, missing)
    assert info.value.reason == errors.SERVER_NOT_FOUND
    assert compute.find_server(conn, missing) is None
    assert compute.delete_server(conn, missing) is False
    with pytest.raises(errors.NotFoundError):
        compute.delete_server(conn, missing, ignore_missing=False)

    server = make_server(conn, boot_ids, new_id("res", SITE))
    assert compute.delete_server(conn, server.id) is True
    compute.wait_for_server_gone(conn, server.id, timeout=10, interval=0.2)
    gone = compute.find_server(conn, server.id)
    assert gone is None or gone.status == "DELETED"  # Nova shows DELETED for a moment


def test_error_server_carries_fault_message(
    conn: Connection, boot_ids: dict[str, str], devcloud: Any
) -> None:
    devcloud.set_faults(server_error_count=1, server_error_message="No valid host was found.")
    server = make_server(conn, boot_ids, new_id("res", SITE))
    with pytest.raises(errors.ServerFailedError) as info:
        compute.wait_for_active(conn, server.id, timeout=10, interval=0.2)
    assert info.value.reason == errors.SERVER_ERROR
    assert "No valid host was found." in info.value.message
    assert not errors.is_transient(info.value)


def test_build_timeout_is_final(conn: Connection, boot_ids: dict[str, str], devcloud: Any) -> None:
    devcloud.set_boot_delay(30)
    server = make_server(conn, boot_ids, new_id("res", SITE))
    with pytest.raises(errors.ServerTimeoutError) as info:
        compute.wait_for_active(conn, server.id, timeout=0.5, interval=0.2)
    assert info.value.reason == errors.SERVER_BUILD_TIMEOUT
    assert not errors.is_transient(info.value)


def test_quota_keeps_novas_message(
    conn: Connection, boot_ids: dict[str, str], devcloud: Any
) -> None:
    devcloud.set_faults(quota={"instances": 0})
    with pytest.raises(errors.QuotaExceededError) as info:
        make_server(conn, boot_ids, new_id("res", SITE))
    assert info.value.message.startswith("Quota exceeded for instances")
    assert not errors.is_transient(info.value)


def test_injected_503_and_reset_are_transient(conn: Connection, devcloud: Any) -> None:
    # warm up: version discovery is done once per connection and service
    compute.find_server(conn, "00000000-0000-0000-0000-000000000000")
    network.find_network(conn, "private")
    devcloud.set_faults(error_count={"compute": 1})
    with pytest.raises(errors.TransientCloudError):
        compute.find_server(conn, "00000000-0000-0000-0000-000000000000")
    devcloud.set_faults(reset_count={"network": 1})
    with pytest.raises(errors.TransientCloudError):
        network.find_network(conn, "private")
    # and the next call goes through
    assert network.find_network(conn, "private") is not None


def test_wait_rides_out_transient_poll_errors(
    conn: Connection, boot_ids: dict[str, str], devcloud: Any
) -> None:
    server = make_server(conn, boot_ids, new_id("res", SITE))
    devcloud.set_faults(error_count={"compute": 2})
    assert compute.wait_for_active(conn, server.id, timeout=10, interval=0.2).status == "ACTIVE"


def test_image_and_flavor_lookup(conn: Connection) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        boot.resolve_image(conn, "Ubuntu 18.04", label="Old Ubuntu", image_id="image_old")
    assert info.value.reason == errors.IMAGE_NOT_FOUND
    assert "'Old Ubuntu'" in info.value.message
    assert "image_old" in info.value.message
    with pytest.raises(errors.NotFoundError) as info:
        boot.resolve_flavor(conn, "m9.huge", label="huge", flavor_id="flavor_huge")
    assert info.value.reason == errors.FLAVOR_NOT_FOUND
    image_id = boot.resolve_image(conn, "Ubuntu 22.04.5", label="u", image_id="i")
    assert boot.resolve_image(conn, image_id, label="u", image_id="i") == image_id


def test_network_missing_and_ambiguous(conn: Connection) -> None:
    private = network.resolve_network(conn, "private")
    assert network.resolve_network(conn, str(private.id)).id == private.id
    with pytest.raises(errors.NotFoundError) as info:
        network.resolve_network(conn, "no-such-net")
    assert info.value.reason == errors.NETWORK_NOT_FOUND
    conn.network.create_network(name="private")
    with pytest.raises(errors.AmbiguousError) as amb:
        network.resolve_network(conn, "private")
    assert amb.value.reason == errors.NETWORK_AMBIGUOUS
    # by id it is still unambiguous
    assert network.resolve_network(conn, str(private.id)).id == private.id


def test_external_network(conn: Connection) -> None:
    assert network.find_external_network(conn, "public") is not None
    assert network.find_external_network(conn, "private") is None  # not router:external
    assert network.find_external_network(conn) is not None  # the only external one
    with pytest.raises(errors.NotFoundError):
        network.get_external_network(conn, "nope")


def test_floating_ip_made_once_and_released(conn: Connection, boot_ids: dict[str, str]) -> None:
    rid = new_id("res", SITE)
    server = make_server(conn, boot_ids, rid)
    compute.wait_for_active(conn, server.id, timeout=10, interval=0.2)
    external = network.get_external_network(conn, "public")
    description = network.floating_ip_description(rid)
    fip = network.create_floating_ip_for_server(
        conn, server.id, external, port_network_id=boot_ids["network_id"], description=description
    )
    again = network.create_floating_ip_for_server(
        conn, server.id, external, description=description
    )
    assert again.id == fip.id
    assert [
        f.id for f in network.floating_ips_for_server(conn, server.id, description=description)
    ] == [fip.id]
    # Nova's addresses show the floating IP a moment after Neutron has associated it
    deadline = time.monotonic() + 15
    while compute.server_addresses(compute.get_server(conn, server.id))[1] is None:
        assert time.monotonic() < deadline, "the floating IP never reached Nova's addresses"
        time.sleep(0.1)
    assert (
        compute.server_addresses(compute.get_server(conn, server.id))[1] == fip.floating_ip_address
    )
    assert network.delete_floating_ip(conn, fip.id) is True
    assert network.delete_floating_ip(conn, fip.id) is False
    with pytest.raises(errors.NotFoundError):
        network.delete_floating_ip(conn, fip.id, ignore_missing=False)


def test_floating_ip_needs_a_port(conn: Connection) -> None:
    external = network.get_external_network(conn, "public")
    with pytest.raises(errors.NotFoundError, match="has no port"):
        network.create_floating_ip_for_server(
            conn, "00000000-0000-0000-0000-000000000000", external
        )
