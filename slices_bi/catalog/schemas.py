"""Request bodies of the resource endpoints (the catalog tables carry their own families)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from slices_bi.catalog.text import Flag, Instant, Name, Reference, SshKey

FRIENDLY_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
EXAMPLE_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVkAXHpOZ0j3kTnbsSZ5dswJj3lYJ2rkfWSYlN7nnSv alice@laptop"
)


class NetworkInterface(BaseModel):
    """One network interface of a VM (one interface is supported today)."""

    model_config = ConfigDict(extra="forbid")

    network_name: Name


class ResourceSpec(BaseModel):
    """One VM of a request."""

    model_config = ConfigDict(extra="forbid")

    friendly_name: str = Field(
        pattern=FRIENDLY_NAME_PATTERN,
        description="Host name of the VM: letters, digits and dashes, at most 63 characters",
    )
    disk_image_id: Reference
    flavor_id: Reference
    network_name: Name | None = None
    userdata: str | None = Field(
        default=None, max_length=200_000, description="cloud-init user data"
    )
    network_interfaces: list[NetworkInterface] | None = Field(default=None, max_length=1)
    public_ipv4: Flag = False


class TokenRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwt: str = Field(min_length=1, max_length=16_384)


class ResourcesRequest(BaseModel):
    """`POST /resources`: VMs for the experiment of the Authorization token."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request_id": "5b0f8a0e-6f2c-4a39-9a53-3f8e3d0c9b21",
                    "expires_at": "2026-12-01T12:00:00Z",
                    "resources": [
                        {
                            "friendly_name": "vm1",
                            "disk_image_id": "image_tld-city-bp1_01jd0000000000000000000000",
                            "flavor_id": "flavor_tld-city-bp1_01jd0000000000000000000000",
                            "network_name": "private",
                            "userdata": "#cloud-config\npackages: [htop]\n",
                            "public_ipv4": False,
                        }
                    ],
                    "ssh_authorized_keys": [EXAMPLE_KEY],
                    "tokens": [{"jwt": "<user token>"}],
                }
            ]
        },
    )

    request_id: UUID = Field(description="Client-chosen idempotency key")
    expires_at: Instant
    resources: list[ResourceSpec] = Field(min_length=1, max_length=50)
    ssh_authorized_keys: list[SshKey] = Field(default_factory=list, max_length=50)
    tokens: list[TokenRef] = Field(min_length=1, max_length=4, description="The user token")


class ResourceExtension(BaseModel):
    """`PATCH /resources/{id}`: a later expiry."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"expires_at": "2026-12-15T12:00:00Z"}]}
    )

    expires_at: Instant
