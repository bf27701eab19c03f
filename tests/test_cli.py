"""The `slices-bi` command's one-shot subcommands."""

from __future__ import annotations

import argparse

import jwt
import pytest
from sqlalchemy import create_engine, inspect

from slices_bi.auth import ExperimentIdentity, TokenVerifier, UserIdentity
from slices_bi.cli import DEV_EXPERIMENT_ID, DEV_USER_ID, build_parser, main
from slices_bi.devcloud.cli import build_parser as build_devcloud_parser


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


@pytest.mark.parametrize("ttl", ["0", "-60"])
def test_token_refuses_a_lifetime_below_one_second(capsys, ttl):
    with pytest.raises(SystemExit) as exit_:
        main(["token", "experiment", "--ttl", ttl])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "--ttl: must be at least 1 second" in captured.err
    assert captured.out == ""


def test_token_ttl_sets_the_lifetime(capsys):
    assert main(["token", "user", "--ttl", "5"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 5


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser, by its command line."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        found[prefix] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(f"{prefix} {name}".strip(), sub)

    walk("", build_parser())
    found["devcloud"] = build_devcloud_parser()
    return found


COMMANDS = sorted(set(_parsers()) - {""})  # every subcommand, new ones included


def test_the_commands_checked_below_include_every_documented_one():
    documented = ["up", "api", "worker", "token", "db", "catalog sync", "cleanup", "devcloud"]
    assert set(documented) <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_help_says_what_it_does_and_what_its_options_mean(capsys, command):
    parser = _parsers()[command]
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), "--help"])
    assert exit_.value.code == 0
    shown = "".join(capsys.readouterr().out.split())  # argparse re-wraps, even at hyphens
    assert parser.description, f"`{command}` has no description"
    assert "".join(parser.description.split()) in shown
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            assert action.help, f"`{command}`: {action.dest} is not explained"
