"""clouds.yaml entries for a devcloud, merged into existing files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from slices_bi.devcloud.models import Identity


def cloud_entry(auth_url: str, identity: Identity) -> dict[str, Any]:
    """The ``clouds.<name>`` entry that points openstacksdk/OSC at a devcloud."""
    return {
        "auth_type": "password",
        "auth": {
            "auth_url": auth_url,
            "username": identity.username,
            "password": identity.password,
            "project_name": identity.project_name,
            "user_domain_name": identity.domain_name,
            "project_domain_name": identity.domain_name,
        },
        "region_name": identity.region,
        "interface": "public",
        "identity_api_version": 3,
    }


def write_clouds_yaml(path: str | os.PathLike[str], cloud_name: str, entry: dict[str, Any]) -> Path:
    """Set ``clouds[cloud_name] = entry`` in the file, keeping everything else."""
    target = Path(path).expanduser()
    data: dict[str, Any] = {}
    if target.exists():
        loaded = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{target} is not a clouds.yaml mapping")
        data = loaded
    clouds = data.setdefault("clouds", {})
    if not isinstance(clouds, dict):
        raise ValueError(f"{target}: 'clouds' is not a mapping")
    clouds[cloud_name] = entry
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".clouds-", suffix=".yaml", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target
