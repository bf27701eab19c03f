"""Validation and execution of Nova's ``POST /servers`` (boot)."""

from __future__ import annotations

import re
import secrets
import string
import time
import uuid
from typing import Any

from slices_bi.devcloud.faults import BuildOutcome
from slices_bi.devcloud.microversion import Version, at_least
from slices_bi.devcloud.models import Flavor, Image, Network, Port, Server
from slices_bi.devcloud.netops import NOVA_OWNER, create_port
from slices_bi.devcloud.runtime import Devcloud
from slices_bi.devcloud.server_fields import (
    invalid,
    validate_metadata,
    validate_tags,
    validate_user_data,
)
from slices_bi.devcloud.store import Store, keypair_key
from slices_bi.devcloud.web import ApiError, nova_error


def _ref_id(ref: Any) -> str:
    # imageRef/flavorRef may be bare ids or full URLs ending in the id.
    return str(ref).rstrip("/").rsplit("/", 1)[-1]


def _image(store: Store, ref: Any) -> Image:
    if not ref:
        raise invalid(
            "server", "Value: imageRef is required (booting from volume is not supported)."
        )
    image = store.images.get(_ref_id(ref))
    if image is None:
        raise nova_error(400, f"Image {_ref_id(ref)} could not be found.")
    if image.status != "active":
        raise nova_error(400, f"Image {image.id} is not active.")
    return image


def _flavor(store: Store, ref: Any) -> Flavor:
    if ref in (None, ""):
        raise invalid("server", "Value: 'flavorRef' is a required property")
    flavor = store.flavors.get(_ref_id(ref))
    if flavor is None:
        raise nova_error(400, f"Flavor {_ref_id(ref)} could not be found.")
    return flavor


def _check_fit(image: Image, flavor: Flavor) -> None:
    if flavor.disk and image.min_disk > flavor.disk:
        raise nova_error(
            400,
            "Flavor's disk is too small for requested image. Flavor disk is "
            f"{flavor.disk * 1024**3} bytes, minimum required by image is "
            f"{image.min_disk * 1024**3} bytes.",
        )
    if image.min_ram > flavor.ram:
        raise nova_error(400, "Flavor's memory is too small for requested image.")


def _networks(
    store: Store, requested: Any, version: Version
) -> list[tuple[Network, Port | None, str | None]]:
    """[(network, existing port or None, fixed ip or None)] to attach the server to."""
    internal = [n for n in store.networks.values() if not n.external]
    if requested is None:
        if at_least(version, 2, 37):
            raise invalid("server", "Value: 'networks' is a required property")
        if len(internal) > 1:
            raise nova_error(
                409, "Multiple possible networks found, use a Network ID to be more specific."
            )
        return [(n, None, None) for n in internal]
    if requested == "none":
        return []
    if requested == "auto":
        if not internal:
            raise nova_error(400, "Unable to automatically allocate a network for project")
        return [(internal[0], None, None)]
    if not isinstance(requested, list):
        raise invalid("networks", f"Value: {requested!r}. It must be a list, 'auto' or 'none'.")
    out: list[tuple[Network, Port | None, str | None]] = []
    for item in requested:
        if not isinstance(item, dict):
            raise invalid("networks", f"Value: {item!r} is not of type 'object'")
        fixed = item.get("fixed_ip")
        if item.get("port"):
            port = store.ports.get(str(item["port"]))
            if port is None:
                raise nova_error(400, f"Port id {item['port']} could not be found.")
            if port.device_id:
                raise nova_error(409, f"Port {port.id} is still in use.")
            out.append((store.networks[port.network_id], port, None))
        elif item.get("uuid"):
            network = store.networks.get(str(item["uuid"]))
            if network is None:
                raise nova_error(400, f"Network {item['uuid']} could not be found.")
            out.append((network, None, fixed))
        else:
            raise invalid("networks", "Each network needs a 'uuid' or a 'port'.")
    return out


def check_quota(dc: Devcloud, count: int, flavor: Flavor) -> None:
    """Nova's 403 when the boot would exceed the project's quota."""
    wanted = {"instances": count, "cores": count * flavor.vcpus, "ram": count * flavor.ram}
    for resource, requested in wanted.items():
        limit = dc.faults.quota.get(resource, -1)
        used = dc.store.usage[resource]
        if limit >= 0 and used + requested > limit:
            raise nova_error(
                403,
                f"Quota exceeded for {resource}: Requested {requested}, "
                f"but already used {used} of {limit} {resource}",
            )


def _hostname(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return cleaned[:63] or "server"


def _image_properties(image: Image) -> dict[str, str]:
    # What Nova copies into the instance's system metadata at boot (shown from 2.98).
    props = {k: str(v) for k, v in image.properties.items()}
    props.update(min_disk=str(image.min_disk), min_ram=str(image.min_ram))
    for key in ("disk_format", "container_format"):
        value = getattr(image, key)
        if value:
            props[key] = value
    return props


def _fail(dc: Devcloud, server: Server, outcome: BuildOutcome) -> None:
    server.fails = outcome is not BuildOutcome.ACTIVE
    server.fault_recorded = outcome is BuildOutcome.ERROR
    if outcome is BuildOutcome.ERROR:
        server.fault_message = dc.faults.server_error_message
        server.fault_code = dc.faults.server_error_code
        server.fault_details = dc.faults.server_error_details


def boot(
    dc: Devcloud, spec: Any, version: Version, hints: dict[str, Any] | None = None
) -> list[Server]:
    """Validate a ``server`` create body and create the server(s)."""
    store = dc.store
    if not isinstance(spec, dict):
        raise invalid("server", "Value: 'server' is a required property")
    name = spec.get("name")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 255:
        raise invalid("name", f"Value: {name!r}. The name must be 1-255 characters.")
    image, flavor = _image(store, spec.get("imageRef")), _flavor(store, spec.get("flavorRef"))
    _check_fit(image, flavor)
    networks = _networks(store, spec.get("networks"), version)
    key_name = spec.get("key_name")
    if (
        key_name is not None
        and keypair_key(store.identity.user_id, str(key_name)) not in store.keypairs
    ):
        raise nova_error(400, "Invalid key_name provided.")
    user_data, metadata = (
        validate_user_data(spec.get("user_data")),
        validate_metadata(spec.get("metadata")),
    )
    tags = validate_tags(spec.get("tags"), version)
    if "description" in spec and not at_least(version, 2, 19):
        raise invalid(
            "server", "Additional properties are not allowed ('description' was unexpected)"
        )
    count = int(spec.get("max_count") or spec.get("min_count") or 1)
    if count > 1 and any(port for _, port, _ in networks):
        raise nova_error(
            400, "Unable to launch multiple instances with a single configured port ID."
        )
    check_quota(dc, count, flavor)
    reservation = "r-" + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8)
    )
    servers = []
    for index in range(count):
        suffix = f"-{index + 1}" if count > 1 else ""
        server = Server(
            id=str(uuid.uuid4()),
            name=name + suffix,
            project_id=store.identity.project_id,
            user_id=store.identity.user_id,
            image_id=image.id,
            flavor_id=flavor.id,
            created_at=time.time(),
            boot_delay=dc.config.boot_delay,
            seq=store.next_seq(),
            flavor={
                "name": flavor.name,
                "vcpus": flavor.vcpus,
                "ram": flavor.ram,
                "disk": flavor.disk,
                "ephemeral": flavor.ephemeral,
                "swap": flavor.swap,
                "extra_specs": dict(flavor.extra_specs),
            },
            key_name=key_name,
            user_data=user_data,
            metadata=dict(metadata),
            tags=list(tags),
            description=spec.get("description"),
            availability_zone=str(spec.get("availability_zone") or "nova"),
            pinned_availability_zone=(
                str(spec["availability_zone"]) if spec.get("availability_zone") else None
            ),
            image_properties=_image_properties(image),
            scheduler_hints=dict(hints or {}),
            admin_pass=spec.get("adminPass") or secrets.token_urlsafe(9),
            reservation_id=reservation,
            launch_index=index,
            hostname=_hostname(name + suffix),
            config_drive=bool(spec.get("config_drive")),
        )
        _fail(dc, server, dc.faults.build_outcome())
        store.add_server(server)
        if not server.fails:
            _attach(store, server, networks)
        servers.append(server)
    return servers


def _attach(
    store: Store, server: Server, networks: list[tuple[Network, Port | None, str | None]]
) -> None:
    try:
        for network, port, fixed in networks:
            if port is not None:
                store.bind_port(port, server.id, NOVA_OWNER)
            else:
                ips = [{"ip_address": fixed}] if fixed else None
                created = create_port(
                    store, network, fixed_ips=ips, device_id=server.id, device_owner=NOVA_OWNER
                )
                server.owned_port_ids.append(created.id)
    except ApiError:
        # Like Nova when Neutron cannot allocate: the build ends in ERROR, ports are cleaned up.
        for port_id in list(store.ports_by_device.get(server.id, [])):
            if port_id in server.owned_port_ids:
                store.remove_port(port_id)
            else:
                store.bind_port(store.ports[port_id], "", "")
        server.owned_port_ids.clear()
        server.fails, server.fault_recorded, server.fault_code = True, True, 500
        server.fault_message = (
            f"Build of instance {server.id} aborted: "
            "Failed to allocate the network(s), not rescheduling."
        )
