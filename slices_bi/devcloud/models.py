"""Plain dataclasses for everything devcloud keeps: the cloud's resources.

Timestamps are wall-clock epoch seconds (floats) so that a state file written by
one process is meaningful to the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Image:
    id: str
    name: str
    status: str = "active"
    visibility: str = "public"
    min_disk: int = 0
    min_ram: int = 0
    tags: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    disk_format: str | None = "qcow2"
    container_format: str | None = "bare"
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_value: str | None = None
    protected: bool = False
    os_hidden: bool = False
    owner: str = ""


@dataclass
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int
    disk: int
    ephemeral: int = 0
    swap: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    disabled: bool = False
    description: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass
class Keypair:
    name: str
    user_id: str
    public_key: str
    fingerprint: str
    type: str = "ssh"
    created_at: float = 0.0
    seq: int = 0


@dataclass
class Server:
    id: str
    name: str
    project_id: str
    user_id: str
    image_id: str
    flavor_id: str
    created_at: float
    boot_delay: float
    seq: int
    #: The flavor as it was at boot (Nova embeds this since microversion 2.47).
    flavor: dict[str, Any] = field(default_factory=dict)
    key_name: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    availability_zone: str = "nova"
    admin_pass: str = ""
    reservation_id: str = ""
    launch_index: int = 0
    hostname: str = ""
    config_drive: bool = False
    #: The build ends in ERROR (decided at create time, shown after the boot delay).
    fails: bool = False
    #: Whether Nova keeps a fault for the failed build (not after a compute restart
    #: mid-build), and what it says.
    fault_recorded: bool = True
    fault_message: str = ""
    fault_code: int = 500
    fault_details: str | None = None
    #: The image's properties at boot (Nova shows them since microversion 2.98).
    image_properties: dict[str, str] = field(default_factory=dict)
    #: Scheduler hints given at boot (Nova shows them since microversion 2.100).
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    #: The availability zone asked for at boot (Nova shows it since microversion 2.96).
    pinned_availability_zone: str | None = None
    #: Ports devcloud created for the server (deleted with it); others are only unbound.
    owned_port_ids: list[str] = field(default_factory=list)
    updated_at: float = 0.0
    stopped: bool = False
    locked: bool = False
    #: A reboot in progress: REBOOT (or HARD_REBOOT) until ``reboot_until``.
    reboot_until: float | None = None
    reboot_hard: bool = False
    #: Set when a delete was requested; the delete completes at ``purge_at`` (ports and
    #: quota freed, status DELETED, gone from lists) and GET answers 404 from ``forget_at``.
    deleted_at: float | None = None
    purge_at: float | None = None
    forget_at: float | None = None


@dataclass
class Network:
    id: str
    name: str
    project_id: str
    external: bool = False
    shared: bool = False
    admin_state_up: bool = True
    mtu: int = 1450
    description: str = ""
    created_at: float = 0.0
    subnet_ids: list[str] = field(default_factory=list)


@dataclass
class Subnet:
    id: str
    name: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    project_id: str
    ip_version: int = 4
    enable_dhcp: bool = True
    dns_nameservers: list[str] = field(default_factory=list)
    description: str = ""
    created_at: float = 0.0


@dataclass
class Port:
    id: str
    network_id: str
    project_id: str
    mac_address: str
    fixed_ips: list[dict[str, str]] = field(default_factory=list)
    name: str = ""
    device_id: str = ""
    device_owner: str = ""
    admin_state_up: bool = True
    description: str = ""
    security_groups: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class FloatingIP:
    id: str
    floating_ip_address: str
    floating_network_id: str
    subnet_id: str
    project_id: str
    port_id: str | None = None
    fixed_ip_address: str | None = None
    router_id: str | None = None
    description: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    #: When the association reaches the server's ``addresses`` in Nova (Neutron shows
    #: it at once; Nova learns it from a network-changed event a moment later).
    addresses_at: float = 0.0


@dataclass
class Identity:
    """The single domain/project/user devcloud knows, as written to clouds.yaml."""

    username: str = "demo"
    password: str = "devcloud"  # noqa: S105 - a local fake cloud's well-known password
    project_name: str = "demo"
    domain_name: str = "Default"
    domain_id: str = "default"
    region: str = "RegionOne"
    user_id: str = ""
    project_id: str = ""
