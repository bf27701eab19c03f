"""Secrets on disk: deleted user data is gone from every file of the data directory, and
the data directory and its SQLite files are readable by their owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.auth import get_token_verifier, mint_experiment_token, mint_user_token
from slices_bi.catalog import db as catalog_db
from slices_bi.catalog import lifecycle, scrub
from slices_bi.catalog.migrate import upgrade
from slices_bi.catalog.models import DiskImage, Flavor, ResourceUserData
from slices_bi.settings import get_settings
from tests.api.conftest import SSH_KEY, OfflineLauncher


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fresh_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """slices-bi on a data directory of its own, SQLite inside, a common umask (022)."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SLICES_BI_DATA_DIR", str(data_dir))
    monkeypatch.delenv("SLICES_BI_DATABASE_URL")
    get_settings.cache_clear()
    get_token_verifier.cache_clear()
    previous = os.umask(0o022)
    yield data_dir
    os.umask(previous)
    monkeypatch.undo()
    get_settings.cache_clear()
    get_token_verifier.cache_clear()
    catalog_db.dispose_engines()


def test_deleted_user_data_is_gone_from_every_file(fresh_data_dir: Path) -> None:
    password = f"pw{uuid.uuid4().hex}"
    settings = get_settings()
    upgrade()
    with Session(catalog_db.get_engine()) as session:
        session.add(DiskImage(id="image_t", friendly_name="img", location="img"))
        session.add(Flavor(id="flavor_t", friendly_name="f", vcpus=1, ram_mib=512, location="f"))
        session.commit()
    user_token = mint_user_token(settings, user_id="user_secret")
    embedded_jwt = mint_user_token(settings, user_id="user_embedded")
    body = {
        "request_id": str(uuid.uuid4()),
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "resources": [
            {
                "friendly_name": "vm1",
                "disk_image_id": "image_t",
                "flavor_id": "flavor_t",
                "userdata": f"#cloud-config\npassword: {password}\n"
                f"write_files:\n- path: /root/token\n  content: {embedded_jwt}\n",
            }
        ],
        "ssh_authorized_keys": [SSH_KEY],
        "tokens": [{"jwt": user_token}],
    }
    experiment = mint_experiment_token(
        settings, experiment_id="exp_secret_1", user_id="user_secret"
    )
    with TestClient(create_app(launcher=OfflineLauncher())) as client:
        answer = client.post(
            f"{API_PREFIX}/resources",
            json=body,
            headers={"Authorization": f"Bearer {experiment}"},
        )
    assert answer.status_code == 200, answer.text
    resource_id = answer.json()["resource_ids"][0]
    with Session(catalog_db.get_engine()) as session:
        assert password in session.get(ResourceUserData, resource_id).payload

    # What the provision flow does once the server exists, and once it is active.
    assert lifecycle.record_server_id(resource_id=resource_id, server_id="srv-1")
    assert lifecycle.mark_resource_active(resource_id=resource_id, private_ipv4="10.0.0.9")

    with Session(catalog_db.get_engine()) as session:
        assert session.get(ResourceUserData, resource_id) is None

    def holding() -> list[str]:
        files = [p for p in fresh_data_dir.rglob("*") if p.is_file()]
        assert any(p.name == "slices-bi.db" for p in files)
        return [
            str(p)
            for p in files
            for secret in (password, embedded_jwt)
            if secret.encode() in p.read_bytes()
        ]

    # The checkpoint runs in a thread of its own within a moment of the commit.
    deadline = time.monotonic() + 30
    while holding() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert holding() == [], "a deleted secret is still on disk"
    assert scrub.scrubbed()


def test_data_dir_and_database_files_are_private(fresh_data_dir: Path) -> None:
    # Through the command line, as `slices-bi up` runs it.
    env = {**os.environ, "SLICES_BI_DATA_DIR": str(fresh_data_dir)}
    subprocess.run([sys.executable, "-m", "slices_bi.cli", "db", "upgrade"], env=env, check=True)
    database = fresh_data_dir / "slices-bi.db"
    assert _mode(fresh_data_dir) == 0o700
    assert _mode(database) == 0o600
    # The WAL and shared-memory files SQLite makes beside it, in this process (umask 022).
    with Session(catalog_db.get_engine()) as session:
        session.add(DiskImage(id="image_p", friendly_name="img", location="img"))
        session.commit()
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists()
        assert shm.exists()
        assert (_mode(wal), _mode(shm)) == (0o600, 0o600)


def test_existing_files_are_narrowed(fresh_data_dir: Path) -> None:
    fresh_data_dir.mkdir(mode=0o755)
    database = fresh_data_dir / "slices-bi.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    env = {**os.environ, "SLICES_BI_DATA_DIR": str(fresh_data_dir)}
    subprocess.run([sys.executable, "-m", "slices_bi.cli", "db", "upgrade"], env=env, check=True)
    assert _mode(fresh_data_dir) == 0o700
    assert _mode(database) == 0o600
