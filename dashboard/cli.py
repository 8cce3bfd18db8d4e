"""The ``cityops`` command. Each subcommand reads Settings once and passes a Runtime on."""
from __future__ import annotations

import argparse
import logging
import secrets
import sys
import threading
from collections.abc import Callable

from store.runtime import Runtime
from store.settings import Settings

log = logging.getLogger("cityops")


def _runtime(args: argparse.Namespace) -> Runtime:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Migration plumbing and per-job scheduler chatter would bury what an operator needs to see.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    return Runtime.start(settings)


def _demo_users(rt: Runtime) -> None:
    """In demo mode (no users yet) make one user per role and print their passwords once."""
    from store import accounts
    from store.models.core import ROLES

    with rt.session() as s:
        if accounts.count_users(s):
            return
        lines = []
        for role in ROLES:
            password = secrets.token_urlsafe(9)
            accounts.add_user(s, role, password, role, now=rt.clock.now())
            lines.append(f"  {role:<11} password {password}")
    print("Demo users (shown once; `cityops user add` makes real ones):\n" + "\n".join(lines), flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    """Everything in one process on embedded defaults: web, simulator, workers, scheduler."""
    from dashboard import serve, services

    rt = _runtime(args)
    _demo_users(rt)
    stop = threading.Event()
    services.start(rt, "run", stop)
    s = rt.settings
    print(f"CityOps is up: http://{s.host}:{s.port}/  (wall /wall, API /api/v1/openapi.json, "
          f"health /readyz, metrics /metrics) — city {s.city}, scale {s.scale}, "
          f"database {s.sqlalchemy_url.split('@')[-1]}, redis {'in-process' if not s.redis_url else s.redis_url}", flush=True)
    serve.serve(rt, stop)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """Only the web tier (pages, REST API, Socket.IO relay)."""
    from dashboard import serve

    rt = _runtime(args)
    serve.serve(rt, threading.Event())
    return 0


def _group(name: str) -> Callable[[argparse.Namespace], int]:
    def run_group(args: argparse.Namespace) -> int:
        from dashboard import services

        rt = _runtime(args)
        stop = threading.Event()
        if not services.start(rt, name, stop):
            print(f"cityops {name}: nothing to run", file=sys.stderr)
            return 1
        services.wait_forever(stop)
        return 0

    run_group.__doc__ = f"Run the {name} services alone."
    return run_group


def cmd_user_add(args: argparse.Namespace) -> int:
    from store import accounts

    password = sys.stdin.readline().rstrip("\n")
    rt = _runtime(args)
    with rt.session() as s:
        accounts.add_user(s, args.name, password, args.role, now=rt.clock.now(), language=args.language)
    print(f"user {args.name} added with role {args.role}")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from store import accounts

    rt = _runtime(args)
    with rt.session() as s:
        key = accounts.create_api_key(s, args.name, now=rt.clock.now())
    print(key)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from store import audit

    rt = _runtime(args)
    with rt.session() as s:
        problems = audit.verify(s)
    if not problems:
        print("audit log intact")
        return 0
    for p in problems:
        print(f"audit entry {p.seq}: {p.problem}")
    return 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cityops", description="CityOps control room. Settings come from CITYOPS_* variables (see README).")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help=cmd_run.__doc__).set_defaults(fn=cmd_run)
    sub.add_parser("web", help=cmd_web.__doc__).set_defaults(fn=cmd_web)
    for group in ("worker", "simulate", "scheduler", "dispatcher"):
        sub.add_parser(group, help=f"run the {group} services alone").set_defaults(fn=_group(group))

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="user_cmd", required=True)
    add = user.add_parser("add", help="add a user; the password is read from stdin")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["operator", "supervisor", "shift_lead", "wall", "admin"])
    add.add_argument("--language", choices=["ko", "en"])
    add.set_defaults(fn=cmd_user_add)

    apikey = sub.add_parser("apikey", help="manage API keys").add_subparsers(dest="key_cmd", required=True)
    create = apikey.add_parser("create", help="create an API key and print it once")
    create.add_argument("name")
    create.set_defaults(fn=cmd_apikey_create)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    audit.add_parser("verify", help="check the hash chain; exit 2 if broken").set_defaults(fn=cmd_audit_verify)

    for extend in EXTENSIONS:
        extend(sub)
    return p


# Subcommands that live with their domain (replay, report): each a function adding its parser.
def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    import importlib

    found = []
    for target in ("feeds.replay:add_cli", "reports.cli:add_cli"):
        module, func = target.split(":")
        try:
            found.append(getattr(importlib.import_module(module), func))
        except (ModuleNotFoundError, AttributeError):
            continue
    return found


EXTENSIONS = _extensions()


def main(argv: list[str] | None = None) -> int:
    from store.errors import CityOpsError

    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except CityOpsError as exc:
        print(f"cityops: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
