"""The `slices-bi` command's one-shot subcommands."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from slices_bi.auth import ExperimentIdentity, TokenVerifier, UserIdentity
from slices_bi.cli import DEV_EXPERIMENT_ID, DEV_USER_ID, main


def test_token_commands_mint_tokens_the_api_accepts(capsys, settings):
    assert main(["token", "user"]) == 0
    user = TokenVerifier(settings).verify(capsys.readouterr().out.strip())
    assert isinstance(user, UserIdentity)
    assert user.user_id == DEV_USER_ID
    assert main(["token", "experiment", "--experiment-days", "2"]) == 0
    experiment = TokenVerifier(settings).verify(capsys.readouterr().out.strip())
    assert isinstance(experiment, ExperimentIdentity)
    assert experiment.experiment_id == DEV_EXPERIMENT_ID
    assert experiment.user_id == DEV_USER_ID
    assert experiment.expires_at is not None


def test_db_upgrade_creates_the_catalog(tmp_path, monkeypatch):
    from slices_bi.settings import get_settings

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("SLICES_BI_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
    finally:
        get_settings.cache_clear()
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"disk_images", "flavors", "experiments", "resources", "tasks"} <= tables


def test_catalog_sync_and_cleanup_run_once(capsys, db, devcloud):
    assert main(["catalog", "sync"]) == 0
    assert "Debian 12.5" in capsys.readouterr().out
    assert main(["cleanup"]) == 0
    assert "deletion" in capsys.readouterr().out.lower()


def test_catalog_sync_reports_a_cloud_failure(capsys, db, devcloud):
    devcloud.set_faults(error_rate={"image": 1.0}, error_status=500)
    assert main(["catalog", "sync"]) == 1
    assert "catalog sync failed" in capsys.readouterr().err
