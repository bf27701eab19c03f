"""API fixtures: a client on the real app, tokens from the dev issuer, catalog rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.auth import get_token_verifier, mint_experiment_token, mint_user_token
from slices_bi.catalog.models import DiskImage, Flavor, Task
from slices_bi.ids import new_id
from slices_bi.settings import Settings

ADMIN_ID = "user_dev.slices-bi_admin0000000000000000000000"
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVkAXHpOZ0j3kTnbsSZ5dswJj3lYJ2rkfWSYlN7nnSv alice@laptop"
)


@dataclass
class OfflineLauncher:
    """Prefect out of reach: every submission fails, and is counted."""

    submitted: list[str] = field(default_factory=list)

    def submit(self, task: Task, name: str | None = None) -> str | None:
        self.submitted.append(task.id)
        return None


@dataclass
class Tokens:
    settings: Settings
    experiment_id: str
    user_id: str

    def user(self, user_id: str | None = None) -> str:
        return mint_user_token(self.settings, user_id=user_id or self.user_id)

    def experiment(
        self, experiment_id: str | None = None, days: float = 30, user_id: str | None = None
    ) -> str:
        return mint_experiment_token(
            self.settings,
            experiment_id=experiment_id or self.experiment_id,
            project_id="proj_dev.slices-bi_01jdep0000000000000000000000",
            experiment_expires_at=datetime.now(UTC) + timedelta(days=days),
            user_id=user_id or self.user_id,
        )

    def admin(self) -> str:
        return mint_user_token(self.settings, user_id=ADMIN_ID)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    get_token_verifier.cache_clear()
    suffix = uuid.uuid4().hex[:20]
    return Tokens(settings, experiment_id=f"exp_test_{suffix}", user_id=f"user_test_{suffix}")


@pytest.fixture
def launcher() -> OfflineLauncher:
    return OfflineLauncher()


@pytest.fixture
def client(db: str, launcher: OfflineLauncher) -> Iterator[TestClient]:
    with TestClient(
        create_app(launcher=launcher), base_url=f"http://127.0.0.1{API_PREFIX}"
    ) as client:
        yield client


@pytest.fixture
def image(session: Session, settings: Settings) -> DiskImage:
    row = DiskImage(
        id=new_id("image", settings.site_id), friendly_name="Ubuntu 24.04", location="ubuntu-24.04"
    )
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def flavor(session: Session, settings: Settings) -> Flavor:
    row = Flavor(
        id=new_id("flavor", settings.site_id),
        friendly_name="m1.small",
        vcpus=1,
        ram_mib=2048,
        location="m1.small",
    )
    session.add(row)
    session.commit()
    return row


def request_body(image: DiskImage, flavor: Flavor, tokens: Tokens, **overrides: object) -> dict:
    body: dict = {
        "request_id": str(uuid.uuid4()),
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "resources": [{"friendly_name": "vm1", "disk_image_id": image.id, "flavor_id": flavor.id}],
        "ssh_authorized_keys": [SSH_KEY],
        "tokens": [{"jwt": tokens.user()}],
    }
    body.update(overrides)
    return body
