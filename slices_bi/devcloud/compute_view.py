"""How Nova shows servers and flavors, including the lazily computed lifecycle.

A server's status is derived from its timestamps whenever it is read, so a
thousand booting servers cost nothing until somebody looks at them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from slices_bi.devcloud.microversion import Version, at_least
from slices_bi.devcloud.models import Flavor, Server
from slices_bi.devcloud.store import Store
from slices_bi.devcloud.web import iso

# Nova's power states
NOSTATE, RUNNING, SHUTDOWN = 0, 1, 4


@dataclass(frozen=True)
class Lifecycle:
    status: str
    vm_state: str
    task_state: str | None
    power_state: int
    launched_at: float | None
    updated: float


def lifecycle(server: Server, now: float) -> Lifecycle:
    """Status of ``server`` at time ``now``."""
    ready_at = server.created_at + server.boot_delay
    booted = now >= ready_at
    if is_deleted(server, now):
        status, vm_state, task, power = "DELETED", "deleted", None, NOSTATE
    elif not booted:
        status, vm_state, task, power = "BUILD", "building", "spawning", NOSTATE
    elif server.fails:
        status, vm_state, task, power = "ERROR", "error", None, NOSTATE
    elif server.stopped:
        status, vm_state, task, power = "SHUTOFF", "stopped", None, SHUTDOWN
    elif server.reboot_until is not None and now < server.reboot_until:
        status = "HARD_REBOOT" if server.reboot_hard else "REBOOT"
        task = "reboot_started_hard" if server.reboot_hard else "reboot_started"
        vm_state, power = "active", RUNNING
    else:
        status, vm_state, task, power = "ACTIVE", "active", None, RUNNING
    if server.deleted_at is not None and status != "DELETED":
        task = "deleting"
    launched = ready_at if booted and not server.fails else None
    updated = max(server.updated_at, ready_at if booted else server.created_at)
    if server.reboot_until is not None and now >= server.reboot_until:
        updated = max(updated, server.reboot_until)  # the reboot ended: a change Nova shows
    return Lifecycle(status, vm_state, task, power, launched, max(updated, server.deleted_at or 0))


def is_deleted(server: Server, now: float) -> bool:
    """Whether the delete of ``server`` has completed by ``now`` (Nova: status DELETED)."""
    return server.purge_at is not None and now >= server.purge_at


def addresses(store: Store, server: Server, now: float) -> dict[str, list[dict[str, Any]]]:
    """``addresses`` of a server: fixed IPs of its ports plus the floating IPs that have
    reached Nova by ``now``; none once its delete has completed."""
    out: dict[str, list[dict[str, Any]]] = {}
    if is_deleted(server, now):
        return out
    for port in store.server_ports(server.id):
        network = store.networks.get(port.network_id)
        entries = out.setdefault(network.name if network else port.network_id, [])
        mac = port.mac_address
        for fixed in port.fixed_ips:
            entries.append(_address(fixed["ip_address"], "fixed", mac))
        fip_id = store.fip_by_port.get(port.id)
        fip = store.floating_ips[fip_id] if fip_id is not None else None
        if fip is not None and now >= fip.addresses_at:
            entries.append(_address(fip.floating_ip_address, "floating", mac))
    return out


def _address(addr: str, kind: str, mac: str) -> dict[str, Any]:
    version = 6 if ":" in addr else 4
    return {
        "version": version,
        "addr": addr,
        "OS-EXT-IPS:type": kind,
        "OS-EXT-IPS-MAC:mac_addr": mac,
    }


def _links(base: str, kind: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{item_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/{kind}/{item_id}"},
    ]


def server_summary(server: Server, base: str) -> dict[str, Any]:
    return {"id": server.id, "name": server.name, "links": _links(base, "servers", server.id)}


def server_view(
    store: Store, server: Server, version: Version, base: str, now: float
) -> dict[str, Any]:
    """The full (detail) representation of a server at a microversion."""
    state = lifecycle(server, now)
    booted = state.status != "BUILD"
    deleted = state.status == "DELETED"
    host_id = hashlib.sha224(f"{server.project_id}devcloud".encode()).hexdigest() if booted else ""
    has_ports = server.id in store.ports_by_device
    body: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "status": state.status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": dict(server.metadata),
        "hostId": host_id,
        "image": _server_image(server, version, base),
        "flavor": _server_flavor(server, version, base),
        "created": iso(server.created_at),
        "updated": iso(state.updated),
        "addresses": addresses(store, server, now),
        "accessIPv4": "",
        "accessIPv6": "",
        "links": _links(base, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": server.availability_zone if booted else "",
        "config_drive": "True" if server.config_drive else "",
        "key_name": server.key_name,
        "OS-SRV-USG:launched_at": _usage_time(state.launched_at),
        "OS-SRV-USG:terminated_at": _usage_time(server.purge_at if deleted else None),
        "security_groups": [{"name": "default"}] if has_ports else [],
        "OS-EXT-SRV-ATTR:host": "devcloud" if booted else None,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{server.seq:08x}",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": "devcloud" if booted else None,
        "OS-EXT-STS:task_state": state.task_state,
        "OS-EXT-STS:vm_state": state.vm_state,
        "OS-EXT-STS:power_state": state.power_state,
        "os-extended-volumes:volumes_attached": [],
    }
    if at_least(version, 2, 3):
        body.update(
            {
                "OS-EXT-SRV-ATTR:reservation_id": server.reservation_id,
                "OS-EXT-SRV-ATTR:launch_index": server.launch_index,
                "OS-EXT-SRV-ATTR:hostname": server.hostname,
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                "OS-EXT-SRV-ATTR:user_data": server.user_data,
            }
        )
    if at_least(version, 2, 9):
        body["locked"] = server.locked
    if at_least(version, 2, 16):
        body["host_status"] = "UP" if booted else ""
    if at_least(version, 2, 19):
        body["description"] = server.description
    if at_least(version, 2, 26):
        body["tags"] = list(server.tags)
    if at_least(version, 2, 63):
        body["trusted_image_certificates"] = None
    if at_least(version, 2, 73):
        body["locked_reason"] = None
    if at_least(version, 2, 96):
        body["pinned_availability_zone"] = server.pinned_availability_zone
    if at_least(version, 2, 100):
        body["scheduler_hints"] = dict(server.scheduler_hints)
    fault = _fault(server) if state.status in ("ERROR", "DELETED") else None
    if fault is not None:
        body["fault"] = fault
    return body


def _fault(server: Server) -> dict[str, Any] | None:
    """Nova's ``fault`` of a failed build; None when it kept none. ``details`` only go
    to admins (devcloud's user is one) or with codes other than 500, as in Nova."""
    if not server.fails or not server.fault_recorded:
        return None
    fault: dict[str, Any] = {
        "code": server.fault_code,
        "created": iso(server.created_at + server.boot_delay),
        "message": server.fault_message,
    }
    if server.fault_details:
        fault["details"] = server.fault_details
    return fault


def _server_image(server: Server, version: Version, base: str) -> dict[str, Any]:
    image: dict[str, Any] = {
        "id": server.image_id,
        "links": _links(base, "images", server.image_id)[1:],
    }
    if at_least(version, 2, 98):
        image["properties"] = dict(server.image_properties)
    return image


def _usage_time(ts: float | None) -> str | None:
    # OS-SRV-USG times are naive ISO timestamps with microseconds and no "Z".
    text = iso(ts, micro=True)
    return text[:-1] if text else None


def _server_flavor(server: Server, version: Version, base: str) -> dict[str, Any]:
    snap = server.flavor
    if not at_least(version, 2, 47):
        return {"id": server.flavor_id, "links": _links(base, "flavors", server.flavor_id)[1:]}
    return {
        "vcpus": snap.get("vcpus", 0),
        "ram": snap.get("ram", 0),
        "disk": snap.get("disk", 0),
        "ephemeral": snap.get("ephemeral", 0),
        "swap": snap.get("swap", 0),
        "original_name": snap.get("name", ""),
        "extra_specs": dict(snap.get("extra_specs", {})),
    }


def flavor_view(flavor: Flavor, version: Version, base: str, detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "links": _links(base, "flavors", flavor.id),
    }
    if at_least(version, 2, 55):
        body["description"] = flavor.description
    if not detail:
        return body
    swap: int | str = flavor.swap
    if flavor.swap == 0 and not at_least(version, 2, 75):
        swap = ""
    body.update(
        {
            "ram": flavor.ram,
            "disk": flavor.disk,
            "vcpus": flavor.vcpus,
            "swap": swap,
            "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
            "rxtx_factor": flavor.rxtx_factor,
            "os-flavor-access:is_public": flavor.is_public,
            "OS-FLV-DISABLED:disabled": flavor.disabled,
        }
    )
    if at_least(version, 2, 61):
        body["extra_specs"] = dict(flavor.extra_specs)
    return body
