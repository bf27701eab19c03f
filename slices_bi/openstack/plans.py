"""What a pre-flight check is asked and answers: plain dataclasses, no openstacksdk import
(the API and the catalog use them without loading the SDK)."""

from __future__ import annotations

from dataclasses import dataclass, field

# The quota kinds a request consumes, as Nova (instances, cores, ram) and Neutron
# (floating_ips) count them.
QUOTA_KINDS = ("instances", "cores", "ram", "floating_ips")


@dataclass(frozen=True)
class VmAsk:
    """One VM to check: cloud image and flavor (id or name), network, floating IP or not."""

    key: str
    image: str
    flavor: str
    network: str
    public_ipv4: bool = False


@dataclass(frozen=True)
class ResolvedVm:
    """A VM as the cloud would build it."""

    key: str
    image_id: str
    image_name: str
    flavor_id: str
    flavor_name: str
    vcpus: int
    ram_mib: int
    disk_gb: int
    network_id: str
    network_name: str


@dataclass(frozen=True)
class Problem:
    """A check that failed: `reason` is a stable CamelCase code, `message` says why."""

    check: str
    reason: str
    message: str
    key: str | None = None


@dataclass(frozen=True)
class Headroom:
    """One quota: its limit (-1: unlimited) and what the project uses now."""

    kind: str
    limit: int
    used: int

    @property
    def available(self) -> int | None:
        """What is left (None: unlimited)."""
        return None if self.limit < 0 else max(0, self.limit - self.used)


@dataclass(frozen=True)
class Shortfall:
    """A quota the whole request does not fit in."""

    kind: str
    requested: int
    available: int
    limit: int
    used: int

    @property
    def message(self) -> str:
        unit = " MiB" if self.kind == "ram" else ""
        return (
            f"{self.kind}: requested {self.requested}{unit}, available {self.available}{unit} "
            f"({self.used} of {self.limit} used)"
        )


@dataclass(frozen=True)
class Demand:
    """What a whole request takes from the quotas."""

    instances: int = 0
    cores: int = 0
    ram: int = 0
    floating_ips: int = 0

    def shortfalls(self, headroom: dict[str, Headroom]) -> list[Shortfall]:
        """The quotas this demand exceeds (unknown and unlimited quotas never do)."""
        out = []
        for kind in QUOTA_KINDS:
            room = headroom.get(kind)
            wanted = getattr(self, kind)
            if room is None or room.available is None or wanted <= room.available:
                continue
            out.append(Shortfall(kind, wanted, room.available, room.limit, room.used))
        return out


@dataclass
class PreflightReport:
    """What a pre-flight found: the VMs resolved, the failed checks, the quota picture."""

    vms: dict[str, ResolvedVm] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    demand: Demand = field(default_factory=Demand)
    headroom: dict[str, Headroom] = field(default_factory=dict)
    shortfalls: list[Shortfall] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.shortfalls

    def quota_message(self) -> str:
        """One line naming every quota short, for a resource's status message."""
        return "the request does not fit in the project's quota, nothing was created: " + "; ".join(
            s.message for s in self.shortfalls
        )
