"""Admin request bodies of the catalog (disk images, flavors): strict and bounded.

The PATCH bodies take any subset of the fields; a field sent must hold a value (null is
not one: leave the field out to keep it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from slices_bi.catalog.text import (
    Cpus,
    Description,
    Flag,
    Kind,
    LongDescription,
    Name,
    PositiveSize,
    Size,
    Summary,
    Tags,
    Word,
)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _optional() -> Any:
    """An optional PATCH field: absent means unchanged; its schema shows no null."""
    return Field(default=None, json_schema_extra=_no_default)


_IMAGE_EXAMPLE: JsonDict = {
    "friendly_name": "Ubuntu 24.04",
    "location": "ubuntu-24.04-server-cloudimg",
    "default_username": "ubuntu",
    "min_disk_mb": 4096,
    "min_ram_mib": 1024,
    "short_description": "Ubuntu 24.04 LTS",
    "tags": ["ubuntu", "lts"],
}
_FLAVOR_EXAMPLE: JsonDict = {
    "friendly_name": "m1.small",
    "description": "1 vCPU, 2 GiB RAM, 20 GiB disk",
    "vcpus": 1,
    "ram_mib": 2048,
    "disk_mb": 20480,
    "location": "m1.small",
}


class DiskImageCreate(BaseModel):
    """`POST /disk-images`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_IMAGE_EXAMPLE]})

    friendly_name: Name
    cluster_id: Word = "default"
    location: Name = Field(description="OpenStack image id or name")
    default_username: Word = "ubuntu"
    min_disk_mb: Size = 0
    min_ram_mib: Size = 0
    short_description: Summary = ""
    long_description: LongDescription = ""
    tags: Tags = Field(default_factory=list)
    hidden: Flag = False


class DiskImageUpdate(BaseModel):
    """`PATCH /disk-images/{id}`: the fields to change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"hidden": True}]})

    friendly_name: Name = _optional()
    cluster_id: Word = _optional()
    location: Name = _optional()
    default_username: Word = _optional()
    min_disk_mb: Size = _optional()
    min_ram_mib: Size = _optional()
    short_description: Summary = _optional()
    long_description: LongDescription = _optional()
    tags: Tags = _optional()
    hidden: Flag = _optional()


class FlavorCreate(BaseModel):
    """`POST /flavors`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_FLAVOR_EXAMPLE]})

    friendly_name: Name
    description: Description = ""
    flavor_type: Kind = "vm"
    vcpus: Cpus
    ram_mib: PositiveSize
    disk_mb: Size = 0
    location: Name = Field(description="OpenStack flavor id or name")
    hidden: Flag = False


class FlavorUpdate(BaseModel):
    """`PATCH /flavors/{id}`: the fields to change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"hidden": True}]})

    friendly_name: Name = _optional()
    description: Description = _optional()
    flavor_type: Kind = _optional()
    vcpus: Cpus = _optional()
    ram_mib: PositiveSize = _optional()
    disk_mb: Size = _optional()
    location: Name = _optional()
    hidden: Flag = _optional()
