"""In-memory store of devcloud resources, with the indices that keep lookups O(1).

Every mutation that touches more than one collection (ports, addresses, floating
IPs, server deletion) goes through a method here so the indices stay consistent.
"""

from __future__ import annotations

import dataclasses
import heapq
import ipaddress
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from slices_bi.devcloud.models import (
    Flavor,
    FloatingIP,
    Identity,
    Image,
    Keypair,
    Network,
    Port,
    Server,
    Subnet,
)

STATE_VERSION = 1
_COLLECTIONS: dict[str, type] = {
    "images": Image,
    "flavors": Flavor,
    "keypairs": Keypair,
    "servers": Server,
    "networks": Network,
    "subnets": Subnet,
    "ports": Port,
    "floating_ips": FloatingIP,
}


def keypair_key(user_id: str, name: str) -> str:
    """Key of a keypair in :attr:`Store.keypairs` (names are per user in Nova)."""
    return f"{user_id}/{name}"


class Store:
    """All resources of the cloud plus derived indices (rebuilt on load)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.images: dict[str, Image] = {}
        self.flavors: dict[str, Flavor] = {}
        self.keypairs: dict[str, Keypair] = {}
        self.servers: dict[str, Server] = {}
        self.networks: dict[str, Network] = {}
        self.subnets: dict[str, Subnet] = {}
        self.ports: dict[str, Port] = {}
        self.floating_ips: dict[str, FloatingIP] = {}
        #: Servers whose delete completed, still answering GET with status DELETED
        #: until their ``forget_at`` (not persisted: they are gone moments later).
        self.deleted_servers: dict[str, Server] = {}
        self.seq = 0
        self._reindex()

    # -- indices ---------------------------------------------------------------

    def _reindex(self) -> None:
        self.ports_by_device: dict[str, list[str]] = defaultdict(list)
        self.fip_by_port: dict[str, str] = {}
        self.used_ips: dict[str, set[int]] = defaultdict(set)
        self._cursor: dict[str, int] = {}
        self._purge_heap: list[tuple[float, str]] = []
        self._forget_heap: list[tuple[float, str]] = []
        self.usage = {"instances": 0, "cores": 0, "ram": 0}
        for port in self.ports.values():
            if port.device_id:
                self.ports_by_device[port.device_id].append(port.id)
            for fixed in port.fixed_ips:
                self.used_ips[fixed["subnet_id"]].add(_ip_int(fixed["ip_address"]))
        for fip in self.floating_ips.values():
            self.used_ips[fip.subnet_id].add(_ip_int(fip.floating_ip_address))
            if fip.port_id:
                self.fip_by_port[fip.port_id] = fip.id
        for server in self.servers.values():
            self._count(server, 1)
            if server.purge_at is not None:
                heapq.heappush(self._purge_heap, (server.purge_at, server.id))

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- servers ---------------------------------------------------------------

    def _count(self, server: Server, sign: int) -> None:
        self.usage["instances"] += sign
        self.usage["cores"] += sign * int(server.flavor.get("vcpus", 0))
        self.usage["ram"] += sign * int(server.flavor.get("ram", 0))

    def add_server(self, server: Server) -> None:
        self.servers[server.id] = server
        self._count(server, 1)

    def schedule_delete(
        self, server: Server, now: float, delay: float, deleted_visible: float = 0.0
    ) -> None:
        """Mark ``server`` as deleting; the delete completes ``delay`` seconds from ``now``
        and GET shows it as DELETED for ``deleted_visible`` seconds more."""
        if server.deleted_at is not None:
            return
        server.deleted_at = now
        server.purge_at = now + delay
        server.forget_at = server.purge_at + deleted_visible
        heapq.heappush(self._purge_heap, (server.purge_at, server.id))

    def purge_due(self, now: float) -> int:
        """Complete the deletes that are due (free ports and quota, keep a DELETED
        record for GET) and forget expired records; returns how many servers went."""
        purged = 0
        while self._purge_heap and self._purge_heap[0][0] <= now:
            _, server_id = heapq.heappop(self._purge_heap)
            server = self.servers.get(server_id)
            if server is not None and server.purge_at is not None and server.purge_at <= now:
                self._remove_server(server)
                self.deleted_servers[server.id] = server
                forget_at = server.forget_at if server.forget_at is not None else server.purge_at
                heapq.heappush(self._forget_heap, (forget_at, server.id))
                purged += 1
        while self._forget_heap and self._forget_heap[0][0] <= now:
            _, server_id = heapq.heappop(self._forget_heap)
            self.deleted_servers.pop(server_id, None)
        return purged

    def _remove_server(self, server: Server) -> None:
        owned = set(server.owned_port_ids)
        for port_id in list(self.ports_by_device.get(server.id, [])):
            if port_id in owned:
                self.remove_port(port_id)
            else:
                self.bind_port(self.ports[port_id], "", "")
        self.ports_by_device.pop(server.id, None)
        self._count(server, -1)
        del self.servers[server.id]

    def server_ports(self, server_id: str) -> list[Port]:
        return [self.ports[p] for p in self.ports_by_device.get(server_id, ())]

    # -- ports and addresses ---------------------------------------------------

    def add_port(self, port: Port) -> None:
        self.ports[port.id] = port
        if port.device_id:
            self.ports_by_device[port.device_id].append(port.id)

    def bind_port(self, port: Port, device_id: str, device_owner: str) -> None:
        if port.device_id:
            ids = self.ports_by_device.get(port.device_id)
            if ids and port.id in ids:
                ids.remove(port.id)
        port.device_id, port.device_owner = device_id, device_owner
        if device_id:
            self.ports_by_device[device_id].append(port.id)

    def remove_port(self, port_id: str) -> None:
        port = self.ports.get(port_id)
        if port is None:
            return
        self.bind_port(port, "", "")
        for fixed in port.fixed_ips:
            self.release_ip(fixed["subnet_id"], fixed["ip_address"])
        fip_id = self.fip_by_port.get(port_id)
        if fip_id is not None:
            self.associate_fip(self.floating_ips[fip_id], None, None)
        del self.ports[port_id]

    def allocate_ip(self, subnet: Subnet, wanted: str | None = None) -> str | None:
        """Take ``wanted`` or the next free host address of ``subnet`` (None if none)."""
        net = ipaddress.ip_network(subnet.cidr, strict=False)
        used = self.used_ips[subnet.id]
        gateway = _ip_int(subnet.gateway_ip) if subnet.gateway_ip else None
        if wanted is not None:
            value = _ip_int(wanted)
            if value in used or value == gateway or ipaddress.ip_address(wanted) not in net:
                return None
            used.add(value)
            return wanted
        first = int(net.network_address) + 1
        size = max(int(net.broadcast_address) - first, 0)  # excludes the broadcast address
        start = self._cursor.get(subnet.id, 0)
        for step in range(size):
            offset = (start + step) % size
            value = first + offset
            if value not in used and value != gateway:
                used.add(value)
                self._cursor[subnet.id] = offset + 1
                return str(ipaddress.ip_address(value))
        return None

    def release_ip(self, subnet_id: str, address: str) -> None:
        self.used_ips[subnet_id].discard(_ip_int(address))

    # -- floating IPs ----------------------------------------------------------

    def add_fip(self, fip: FloatingIP) -> None:
        self.floating_ips[fip.id] = fip
        if fip.port_id:
            self.fip_by_port[fip.port_id] = fip.id

    def associate_fip(
        self,
        fip: FloatingIP,
        port: Port | None,
        fixed_ip: str | None,
        router_id: str | None = None,
    ) -> None:
        """Point ``fip`` at ``port``/``fixed_ip`` via ``router_id`` (None: disassociate)."""
        if fip.port_id and self.fip_by_port.get(fip.port_id) == fip.id:
            del self.fip_by_port[fip.port_id]
        fip.port_id = port.id if port else None
        fip.fixed_ip_address = fixed_ip if port else None
        fip.router_id = router_id if port else None
        if port is not None:
            self.fip_by_port[port.id] = fip.id

    def remove_fip(self, fip_id: str) -> None:
        fip = self.floating_ips.pop(fip_id)
        if fip.port_id and self.fip_by_port.get(fip.port_id) == fip.id:
            del self.fip_by_port[fip.port_id]
        self.release_ip(fip.subnet_id, fip.floating_ip_address)

    # -- persistence -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": STATE_VERSION,
            "seq": self.seq,
            "identity": dataclasses.asdict(self.identity),
        }
        for name in _COLLECTIONS:
            items = getattr(self, name).values()
            data[name] = [dataclasses.asdict(item) for item in items]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Store:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported devcloud state version {data.get('version')!r}")
        store = cls(Identity(**data["identity"]))
        store.seq = int(data.get("seq", 0))
        for name, kind in _COLLECTIONS.items():
            collection: dict[str, Any] = getattr(store, name)
            for raw in data.get(name, []):
                item = kind(**raw)
                key = keypair_key(item.user_id, item.name) if kind is Keypair else item.id
                collection[key] = item
        store._reindex()
        return store

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state atomically (temp file + rename) as JSON."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".devcloud-", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Store:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


def _ip_int(address: str) -> int:
    return int(ipaddress.ip_address(address))
