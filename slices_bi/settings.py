"""Settings of every slices-bi process, read from `SLICES_BI_*` variables and `.env`."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """One flat settings model; every field is overridable with `SLICES_BI_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="SLICES_BI_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # Site identity
    site_id: str = Field("tld-city-bp1", pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    public_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("data")

    # Catalog database; SQLite file under data_dir unless set.
    database_url: str | None = None
    # Longest wait for a database lock or a pooled connection; an API request that waits
    # longer answers 503 with Retry-After.
    database_lock_timeout_seconds: float = Field(10.0, gt=0, le=300)

    # Tokens
    jwks_url: str | None = None
    jwks_file: Path | None = None
    oidc_discovery_url: str | None = None
    token_issuers: list[str] = ["https://account.ilabt.imec.be"]
    token_algorithms: list[str] = ["ES256", "RS256"]
    # Clock skew allowed on exp/nbf/iat; and the longest life a token may have (exp - iat,
    # and exp - now): longer-lived tokens are refused.
    token_leeway_seconds: int = Field(10, ge=0, le=300)
    token_max_lifetime_seconds: int = Field(86400, ge=60)
    experiment_claim: str = "sub"
    experiment_project_claim: str = "project_id"
    experiment_expiry_claim: str = "experiment_expires_at"
    experiment_user_claim: str = "user_id"
    admin_user_ids: list[str] = []
    dev_issuer: bool = False

    # Resource policy
    max_duration_days: int = 89
    default_network: str = "private"
    default_username: str = "ubuntu"

    # OpenStack: credentials stay in clouds.yaml; only the cloud's name lives here.
    cloud: str | None = None
    # A clouds.yaml to read `cloud` from (default: where openstacksdk looks).
    clouds_yaml: Path | None = None
    region: str | None = None
    external_network: str = "public"
    server_active_timeout_seconds: int = 600
    server_delete_timeout_seconds: int = 300
    openstack_concurrency: int = 8

    # Prefect
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    # The worker runs flow runs in threads of its own process, at most this many at once.
    worker_limit: int = Field(100, ge=1, le=1000)
    worker_poll_seconds: float = Field(0.5, gt=0, le=60)
    # Flow-run creations an API process sends to Prefect at once.
    prefect_create_concurrency: int = Field(4, ge=1, le=32)
    # A lock file through which this machine's processes send Prefect API writes one at a
    # time: for a stock SQLite-backed Prefect server (`prefect server start`), which answers
    # concurrent writes with 503. Unset under `up` (its server waits writes out) and with
    # PostgreSQL.
    prefect_write_lock: Path | None = None
    # Names this worker in the runs it claims, so a restarted worker hands back what it had.
    worker_name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=100)
    # A run without a heartbeat (or a task without progress) for this long is dead.
    run_dead_after_seconds: int = Field(90, ge=45, le=3600)
    # A run that died is resumed by a new attempt, up to this many attempts in all.
    run_max_attempts: int = Field(3, ge=1, le=20)
    sweep_interval_seconds: int = 15
    catalog_sync_interval_seconds: int = 900
    expiry_cleanup_interval_seconds: int = 60
    # Enough for a class whose VMs all expire together to go in one pass (one run per experiment).
    expiry_cleanup_max_deletions: int = 100
    # Expiry warnings (sent by expiry-cleanup): hours before a resource's expiry, a Prefect
    # event each, and a POST to the webhook when one is set (no secrets in it).
    expiry_warning_hours: list[float] = Field(default_factory=lambda: [24.0, 1.0])
    expiry_webhook_url: str | None = None
    expiry_webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    leak_grace_seconds: int = 600
    catalog_sync_image_name_pattern: str | None = None
    catalog_sync_image_tag: str | None = None
    catalog_sync_image_visibility: list[str] = ["public", "shared", "community"]

    # devcloud (the embedded cloud of `slices-bi up` when no cloud is configured)
    devcloud_port: int = 8780
    devcloud_boot_delay_seconds: float = 3.0

    # API process
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Observability
    # "text" or "json" (one JSON object per line, same fields: time, level, logger,
    # message, request_id).
    log_format: Literal["text", "json"] = "text"
    # Who may read /metrics: "auto" (anyone when the API listens on a loopback address,
    # else a token), "open" or "token" (an admin SLICES token, or `metrics_token`).
    metrics_auth: Literal["auto", "open", "token"] = "auto"
    # A static bearer token for Prometheus (SLICES tokens live minutes); unset: none.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    # The Prefect UI, for links to flow runs (default: prefect_api_url without its /api).
    prefect_ui_url: str | None = None
    # How often a process writes its counters (cloud calls, retries) to the catalog.
    metrics_flush_seconds: float = Field(5.0, gt=0, le=300)

    @field_validator(
        "prefect_write_lock",
        "clouds_yaml",
        "expiry_webhook_url",
        "metrics_token",
        "prefect_ui_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def effective_prefect_ui_url(self) -> str:
        """Where the Prefect UI is: `prefect_ui_url`, else the API URL without `/api`."""
        if self.prefect_ui_url:
            return self.prefect_ui_url.rstrip("/")
        return self.prefect_api_url.rstrip("/").removesuffix("/api")

    @property
    def effective_database_url(self) -> str:
        """The catalog URL: the configured one, or a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'slices-bi.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
