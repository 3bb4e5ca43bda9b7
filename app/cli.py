"""The ``livecart`` command: serve, demo, migrate, create-user."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn
from pydantic import TypeAdapter, ValidationError

from app import accounts, demo, migrate, stopping
from app.accounts import Role
from app.db import Database
from app.errors import ApiError
from app.fields import USERNAME_RE, Password
from app.metrics import share_between_workers
from app.payments import payment_provider
from app.server import supervise, uvicorn_options
from app.settings import ConfigError, Settings
from app.webhook_listen import listener
from app.worker import run_worker

log = logging.getLogger("livecart")


def _serve(args: argparse.Namespace) -> int:

    settings = Settings.from_env()  # fail fast on a bad environment, before forking workers
    payment_provider(settings)  # a provider that does not import stops here, not per worker
    if args.workers > 1 and not settings.redis_url:
        print(
            "error: --workers above 1 needs REDIS_URL: without Redis each worker would "
            "hold its own separate copy of every live",
            file=sys.stderr,
        )
        return 2
    asyncio.run(_migrate(settings))
    share_between_workers(args.workers)  # /metrics sums the workers (multiprocess mode)
    options = dict(
        host=args.host,
        port=args.port if args.port is not None else settings.port,
        workers=args.workers,
        log_level="info",
        **uvicorn_options(settings),
    )
    if args.workers > 1:  # uvicorn.run's supervisor, with livecart's signal handling
        supervise(uvicorn.Config("app.main:app", **options))
    else:  # app.main's StopGuard takes the signals in the one process
        uvicorn.run("app.main:app", **options)
    return 0


async def _migrate(settings: Settings) -> None:
    db = Database.from_url(settings.database_url)
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()


def _migrate_cmd(_args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    asyncio.run(_migrate(settings))
    print(f"database is at the newest schema ({settings.database_url.split('@')[-1]})")
    return 0


async def _create_user(settings: Settings, username: str, password: str, role: Role) -> int:
    db = Database.from_url(settings.database_url)
    try:
        await migrate.upgrade(db.engine)
        async with db.write() as session:
            user = await accounts.create_user(session, username, password, role)
        return user.uid
    finally:
        await db.dispose()


def _create_user_cmd(args: argparse.Namespace) -> int:
    if not USERNAME_RE.fullmatch(args.name):
        print("error: the name must match [a-z0-9_]{3,32}", file=sys.stderr)
        return 2
    try:
        TypeAdapter(Password).validate_python(args.password)
    except ValidationError:
        print("error: the password must be 8 to 1024 characters", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    try:
        user_id = asyncio.run(_create_user(settings, args.name, args.password, Role(args.role)))
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"created {args.role} {args.name!r} (id {user_id})")
    return 0


def _demo_cmd(args: argparse.Namespace) -> int:
    status = demo.prepare(args)  # seed the demo shop and print its URLs and logins
    return status or _serve(args)


def _worker_cmd(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not settings.redis_url:
        print(
            "error: livecart worker needs REDIS_URL. Without Redis the web process "
            "takes orders off the queue itself: just run `livecart serve`.",
            file=sys.stderr,
        )
        return 2
    stopping.run(run_worker(settings, simulate=args.simulate, step_s=args.step), "livecart worker")
    return 0


def _listen_cmd(args: argparse.Namespace) -> int:
    print(f"livecart webhooks: listening on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    app = listener(args.secret or os.environ.get("LIVECART_WEBHOOK_SECRET"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livecart", description="livecart server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (migrates first)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)

    demo_cmd = sub.add_parser(
        "demo", help="seed a demo creator, products and a running live, print the URLs, serve"
    )
    demo_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    demo_cmd.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    demo_cmd.add_argument("--workers", type=int, default=1)
    demo_cmd.set_defaults(func=_demo_cmd)

    worker = sub.add_parser("worker", help="run a fulfillment worker (needs REDIS_URL)")
    worker.add_argument(
        "--simulate", action="store_true",
        help="also walk accepted orders through picking ... delivered on a timer (demos)",
    )  # fmt: skip
    worker.add_argument("--step", type=float, default=3.0, help="simulator seconds per step")
    worker.set_defaults(func=_worker_cmd)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.set_defaults(func=_migrate_cmd)

    create = sub.add_parser("create-user", help="create an account of any role")
    create.add_argument("name")
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--password", required=True)
    create.set_defaults(func=_create_user_cmd)

    hooks = sub.add_parser("webhooks", help="webhook tools for development")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True)
    listen = hooks_sub.add_parser("listen", help="print the webhook deliveries sent here")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=8787)
    listen.add_argument("--secret", default=None,
                        help="the endpoint's secret, to check signatures "
                             "(or $LIVECART_WEBHOOK_SECRET)")  # fmt: skip
    listen.set_defaults(func=_listen_cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
