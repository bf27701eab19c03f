"""The `slices-bi` command: up | api | worker | token | db | catalog | cleanup | devcloud."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slices_bi.private_files import make_private_dir
from slices_bi.settings import get_settings

# Fixed ids for local use, so tokens minted one after another speak for the same people.
DEV_USER_ID = "user_dev.slices-bi_01jdev0000000000000000000000"
DEV_EXPERIMENT_ID = "exp_dev.slices-bi_01jdem0000000000000000000000"
DEV_PROJECT_ID = "proj_dev.slices-bi_01jdep0000000000000000000000"


def _up(_: argparse.Namespace) -> int:
    from slices_bi.stack import run_stack

    return run_stack(get_settings())


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from slices_bi.api.app import create_app
    from slices_bi.api.serve import uvicorn_config
    from slices_bi.catalog.migrate import upgrade
    from slices_bi.openstack.network_index import NetworkIndex

    settings = get_settings()
    upgrade()
    app = create_app(networks=NetworkIndex(settings), sweep=True)
    host, port = args.host or settings.api_host, args.port or settings.api_port
    uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
    return 0


def _worker(_: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    from slices_bi.catalog.migrate import upgrade
    from slices_bi.deployments.serve import serve_deployments

    upgrade()
    serve_deployments(get_settings())
    return 0


def _token(args: argparse.Namespace) -> int:
    from slices_bi.auth import mint_experiment_token, mint_user_token

    # Minting needs only the dev key; whether an API trusts the result is its own setting
    # (SLICES_BI_DEV_ISSUER, which `up` turns on when no JWKS is configured).
    settings = get_settings().model_copy(update={"dev_issuer": True})
    try:
        if args.kind == "user":
            token = mint_user_token(
                settings, user_id=args.user_id or DEV_USER_ID, ttl_seconds=args.ttl or 3600
            )
        else:
            expiry = datetime.now(UTC) + timedelta(days=args.experiment_days)
            token = mint_experiment_token(
                settings,
                experiment_id=args.experiment_id or DEV_EXPERIMENT_ID,
                project_id=args.project_id or DEV_PROJECT_ID,
                experiment_expires_at=expiry,
                user_id=args.user_id or DEV_USER_ID,
                ttl_seconds=args.ttl or 900,
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _db(args: argparse.Namespace) -> int:
    from slices_bi.catalog.migrate import downgrade, upgrade

    if args.action == "upgrade":
        upgrade(revision=args.revision or "head")
    else:
        downgrade(revision=args.revision or "-1")
    print(f"catalog database: {args.action} done")
    return 0


def _run_job(job: Callable[[], object], label: str) -> int:
    from slices_bi.catalog.migrate import upgrade
    from slices_bi.openstack.errors import CloudError

    upgrade()
    try:
        report = job()
    except CloudError as exc:
        print(f"error: {label} failed: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0


def _catalog_sync(_: argparse.Namespace) -> int:
    from slices_bi.flows.catalog_sync import run_catalog_sync

    return _run_job(lambda: run_catalog_sync(get_settings()), "catalog sync")


def _cleanup(_: argparse.Namespace) -> int:
    from slices_bi.flows.expiry_cleanup import run_expiry_cleanup

    return _run_job(lambda: run_expiry_cleanup(get_settings()), "expiry cleanup")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slices-bi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole stack on this machine").set_defaults(func=_up)
    api = commands.add_parser("api", help="run the REST API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=_api)
    commands.add_parser("worker", help="serve the flows and schedules").set_defaults(func=_worker)

    token = commands.add_parser("token", help="mint a token with the dev issuer")
    token.add_argument("kind", choices=["user", "experiment"])
    token.add_argument("--user-id", help="the user id (sub); a fixed dev user by default")
    token.add_argument("--experiment-id", help="experiment tokens: the experiment id")
    token.add_argument("--project-id", help="experiment tokens: the project id")
    token.add_argument(
        "--experiment-days", type=float, default=7, help="experiment expiry, days from now"
    )
    token.add_argument(
        "--ttl", type=int, help="token lifetime in seconds (user 3600, experiment 900)"
    )
    token.set_defaults(func=_token)

    db = commands.add_parser("db", help="catalog database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("--revision")
    db.set_defaults(func=_db)

    catalog = commands.add_parser("catalog", help="catalog jobs")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    catalog_commands.add_parser(
        "sync", help="sync images and flavors from OpenStack once"
    ).set_defaults(func=_catalog_sync)

    commands.add_parser(
        "cleanup", help="delete expired resources and leaked servers once, now"
    ).set_defaults(func=_cleanup)
    # Listed for --help only: main() hands `devcloud ...` to devcloud's own parser.
    commands.add_parser("devcloud", help="run the local OpenStack-compatible cloud", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `slices-bi` console script."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("alembic", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["devcloud"]:
        from slices_bi.devcloud.cli import main as devcloud_main

        return devcloud_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    # Whatever slices-bi writes (catalog, Prefect's database, logs, keys) is its owner's alone.
    previous_umask = os.umask(0o077)
    try:
        data_dir = get_settings().data_dir
        if data_dir.exists() or args.command == "up":
            make_private_dir(data_dir)
        code: int = args.func(args)
    finally:
        os.umask(previous_umask)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
