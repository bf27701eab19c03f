"""The production env file gives the Prefect server the settings `up` gives it."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from slices_bi.up import PREFECT_SERVER_ENV

EXAMPLE = Path(__file__).parents[2] / "deploy" / "systemd" / "slices-bi.env.example"


def test_the_example_env_file_has_ups_prefect_server_settings():
    example = dotenv_values(EXAMPLE, interpolate=False)
    for name, value in PREFECT_SERVER_ENV.items():
        assert example.get(name) == value, name
