"""The `slices-bi` command: up | api | worker | prefect-server | token | db | catalog | cleanup
| status | retry | abandon | devcloud."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime, timedelta

from slices_bi import cli_jobs as jobs
from slices_bi.private_files import make_private_dir
from slices_bi.settings import get_settings

# Fixed ids for local use, so tokens minted one after another speak for the same people.
DEV_USER_ID = "user_dev.slices-bi_01jdev0000000000000000000000"
DEV_EXPERIMENT_ID = "exp_dev.slices-bi_01jdem0000000000000000000000"
DEV_PROJECT_ID = "proj_dev.slices-bi_01jdep0000000000000000000000"


def _up(_: argparse.Namespace) -> int:
    from pathlib import Path

    from slices_bi.settings import Settings
    from slices_bi.up import is_own_env_file, run_stack

    # The .env an earlier `up` left for other shells describes that stack, not a setting.
    own = is_own_env_file(Path(".env"))
    return run_stack(Settings(_env_file=None) if own else get_settings())  # type: ignore[call-arg]


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from slices_bi.api.app import create_app
    from slices_bi.api.serve import uvicorn_config
    from slices_bi.catalog import metric_store
    from slices_bi.catalog.migrate import upgrade
    from slices_bi.openstack.network_index import NetworkIndex
    from slices_bi.openstack.preflight import CloudPreflight

    settings = get_settings()
    upgrade()
    host, port = args.host or settings.api_host, args.port or settings.api_port
    app = create_app(
        networks=NetworkIndex(settings),
        preflight=CloudPreflight(settings),
        sweep=True,
        bind_host=host,
    )
    metric_store.start_flusher(settings.metrics_flush_seconds)
    uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
    metric_store.stop_flusher()
    return 0


def _worker(_: argparse.Namespace) -> int:
    # Before Prefect is imported: runs send heartbeats (zombie detection needs them).
    from slices_bi.deployments.names import HEARTBEAT_SECONDS

    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
    from slices_bi.catalog import metric_store
    from slices_bi.catalog.migrate import upgrade
    from slices_bi.deployments.serve import serve_deployments

    upgrade()
    metric_store.start_flusher(get_settings().metrics_flush_seconds)
    serve_deployments(get_settings())
    metric_store.stop_flusher()
    logging.shutdown()
    sys.stdout.flush()
    # The runs handed back may still have threads: they must not keep the process alive.
    os._exit(0)


def _prefect_server(args: argparse.Namespace) -> int:
    from slices_bi.prefect_server import serve

    serve(args.host, args.port)
    return 0


def _token(args: argparse.Namespace) -> int:
    from slices_bi.auth import mint_experiment_token, mint_user_token

    # Minting needs only the dev key; whether an API trusts the result is its own setting
    # (SLICES_BI_DEV_ISSUER, which `up` turns on when no JWKS is configured).
    settings = get_settings().model_copy(update={"dev_issuer": True})
    try:
        if args.kind == "user":
            token = mint_user_token(
                settings,
                user_id=args.user_id or DEV_USER_ID,
                ttl_seconds=3600 if args.ttl is None else args.ttl,
            )
        else:
            expiry = datetime.now(UTC) + timedelta(days=args.experiment_days)
            token = mint_experiment_token(
                settings,
                experiment_id=args.experiment_id or DEV_EXPERIMENT_ID,
                project_id=args.project_id or DEV_PROJECT_ID,
                experiment_expires_at=expiry,
                user_id=args.user_id or DEV_USER_ID,
                ttl_seconds=900 if args.ttl is None else args.ttl,
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


def _positive_seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, not {seconds}")
    return seconds


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does (`summary` also shows in the list)."""
    return commands.add_parser(name, help=summary, description=f"{summary}. {description}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slices-bi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _command(
        commands,
        "up",
        "Run the whole stack on this machine",
        "Starts devcloud (unless SLICES_BI_CLOUD or OS_CLOUD names a cloud; its servers kept in "
        "<data dir>/devcloud-state.json), the Prefect server and UI, the catalog migrations and "
        "a first catalog sync, the worker and the API; logs go to <data dir>/logs/ and a .env "
        "for other shells to the current directory. Ctrl-C stops everything in reverse order "
        "(the worker hands its runs back to Prefect first). Refuses to start beside another up "
        "on the same data directory or ports.",
    ).set_defaults(func=_up)

    api = _command(
        commands,
        "api",
        "Run the REST API",
        "Serves the API (and /docs, /redoc) with uvicorn, migrates the catalog first, and runs "
        "the sweep that submits tasks accepted while Prefect was unreachable.",
    )
    api.add_argument("--host", help="address to listen on (default: SLICES_BI_API_HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default: SLICES_BI_API_PORT, 8000)")
    api.set_defaults(func=_api)

    _command(
        commands,
        "worker",
        "Serve the flows and the scheduled jobs",
        "Migrates the catalog, registers the deployments (provision-resources, "
        "delete-resource, catalog-sync, expiry-cleanup) with their schedules on the Prefect "
        "server at PREFECT_API_URL, and runs their flow runs in threads of this process, at "
        "most SLICES_BI_WORKER_LIMIT at once. SIGTERM or Ctrl-C hands the runs in flight back "
        "to Prefect (a worker resumes them) and exits.",
    ).set_defaults(func=_worker)

    prefect_server = _command(
        commands,
        "prefect-server",
        "Run the Prefect server and UI (what up runs)",
        "Prefect's own server and UI; on a SQLite database (the default) every transaction that "
        "may write begins IMMEDIATE, so that a burst of writes waits its turn instead of getting "
        "503 'database is locked'. Its database and other settings are Prefect's "
        "(PREFECT_SERVER_DATABASE_CONNECTION_URL, ...).",
    )
    prefect_server.add_argument("--host", help="default: PREFECT_SERVER_API_HOST, 127.0.0.1")
    prefect_server.add_argument("--port", type=int, help="default: PREFECT_SERVER_API_PORT, 4200")
    prefect_server.set_defaults(func=_prefect_server)

    token = _command(
        commands,
        "token",
        "Mint a token with the dev issuer",
        "Prints a signed JWT, like `slices auth id-token` (user) or `slices experiment jwt` "
        "(experiment) against the real portal. An API accepts it only with "
        "SLICES_BI_DEV_ISSUER=true (which `up` sets when no JWKS is configured).",
    )
    token.add_argument(
        "kind",
        choices=["user", "experiment"],
        help="user: reads the catalog and the user's resources; experiment: requests, extends "
        "and deletes the experiment's resources",
    )
    token.add_argument("--user-id", help="the user id (sub); a fixed dev user by default")
    token.add_argument("--experiment-id", help="experiment tokens: the experiment id")
    token.add_argument("--project-id", help="experiment tokens: the project id")
    token.add_argument(
        "--experiment-days",
        type=float,
        default=7,
        help="experiment tokens: the experiment's expiry, in days from now (default: %(default)s)",
    )
    token.add_argument(
        "--ttl",
        type=_positive_seconds,
        help="token lifetime in seconds, at least 1 (default: user 3600, experiment 900)",
    )
    token.set_defaults(func=_token)

    db = _command(
        commands,
        "db",
        "Migrate the catalog database",
        "Runs the Alembic migrations on SLICES_BI_DATABASE_URL (the API and the worker also "
        "upgrade when they start).",
    )
    db.add_argument(
        "action", choices=["upgrade", "downgrade"], help="upgrade to a revision, or downgrade"
    )
    db.add_argument(
        "--revision", help="target revision (default: head for upgrade, -1 for downgrade)"
    )
    db.set_defaults(func=_db)

    catalog = _command(
        commands,
        "catalog",
        "Catalog jobs",
        "Runs catalog jobs in this process, as flow runs of the Prefect server when it answers.",
    )
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    _command(
        catalog_commands,
        "sync",
        "Sync images and flavors from OpenStack once, now",
        "What the catalog-sync deployment does on its schedule, run once in this process (a "
        "flow run with its report artifact in the Prefect UI when Prefect answers); prints the "
        "report and exits 1 when the cloud fails.",
    ).set_defaults(func=jobs.catalog_sync)

    _command(
        commands,
        "cleanup",
        "Delete expired resources and leaked servers once, now",
        "What the expiry-cleanup deployment does on its schedule, run once in this process (a "
        "flow run in the Prefect UI when Prefect answers): deletes resources past their expiry, "
        "starts stuck deletions again, and deletes servers of this site that no resource owns; "
        "prints the report.",
    ).set_defaults(func=jobs.cleanup)
    _command(
        commands,
        "status",
        "List the unsettled tasks",
        "Every task not finished, failed or cancelled: its age, how long since it last moved, "
        "the state of its Prefect run (Running, AwaitingRetry, Crashed, ...) and its message. "
        "A run whose worker died is marked Crashed by Prefect within SLICES_BI_RUN_DEAD_AFTER_"
        "SECONDS and resumed by the API's sweep; `retry` and `abandon` act by hand.",
    ).set_defaults(func=jobs.status)
    retry = _command(
        commands,
        "retry",
        "Schedule the run of a stuck task again, now",
        "Puts the task's Prefect run back to AwaitingRetry: the next worker to poll resumes "
        "it where the work stands (servers made earlier are adopted, not made twice).",
    )
    retry.add_argument("task_id", help="the task id (task_<site>_...)")
    retry.set_defaults(func=jobs.retry)
    abandon = _command(
        commands,
        "abandon",
        "Give a stuck task up",
        "Fails the task with the reason, cancels its Prefect run and fails the resources it "
        "was provisioning (expiry-cleanup then removes any server they left). The resources "
        "of an abandoned deletion stay deleting: expiry-cleanup deletes them again.",
    )
    abandon.add_argument("task_id", help="the task id (task_<site>_...)")
    abandon.add_argument("--reason", default="stuck", help="why, recorded on the task")
    abandon.set_defaults(func=jobs.abandon)
    # Listed for --help only: main() hands `devcloud ...` to devcloud's own parser.
    commands.add_parser(
        "devcloud",
        help="Run the local OpenStack-compatible cloud alone (see `slices-bi devcloud --help`)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `slices-bi` console script."""
    from slices_bi.logs import configure

    configure(get_settings())
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
