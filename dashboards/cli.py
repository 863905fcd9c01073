"""``greenmon dashboards build|push`` and ``greenmon tenants add|login``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from greenmon.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dashboards", help="Grafana dashboards, datasource and alert rules as code")
    dsub = p.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    p = dsub.add_parser("build", help="write the dashboards' JSON and Grafana provisioning")
    p.add_argument("--out", type=Path, required=True, help="a Grafana provisioning directory")
    p.add_argument(
        "--datasource-user",
        default=None,
        help="also write the datasource file, connecting as this (read-only) role",
    )
    p.set_defaults(handler=cmd_build)
    p = dsub.add_parser("push", help="upload the dashboards through Grafana's HTTP API")
    p.add_argument("--url", required=True, help="e.g. http://localhost:3000")
    p.add_argument("--user", default="admin")
    p.add_argument(
        "--password-env", default="GRAFANA_ADMIN_PASSWORD", help="variable with the password"
    )
    p.add_argument("--token-env", default="GRAFANA_TOKEN", help="variable with an API token")
    p.set_defaults(handler=cmd_push)

    p = sub.add_parser("tenants", help="database roles that see one enterprise's rows only")
    tsub = p.add_subparsers(dest="tenants_command", required=True, metavar="ACTION")
    p = tsub.add_parser("add", help="create or update an enterprise's read-only login role")
    p.add_argument("enterprise")
    p.add_argument("--role", default=None, help="role name (default: ent_<enterprise>)")
    p.add_argument(
        "--password-env",
        default="GREENMON_TENANT_PASSWORD",
        help="variable with the role's password (default: a new random one)",
    )
    p.set_defaults(handler=cmd_tenants_add)
    p = tsub.add_parser("login", help="create or update a login role of a group role")
    p.add_argument("role")
    p.add_argument("--group", choices=["greenmon_inspector", "greenmon_ingest"], required=True)
    p.add_argument("--password-env", default="GREENMON_TENANT_PASSWORD")
    p.set_defaults(handler=cmd_tenants_login)


def cmd_build(args: argparse.Namespace, _settings: Settings) -> int:
    from dashboards.build import write_provisioning

    files = write_provisioning(args.out, datasource_user=args.datasource_user)
    for path in files:
        print(path)
    return 0


def cmd_push(args: argparse.Namespace, _settings: Settings) -> int:
    from dashboards.build import push

    uids = push(
        args.url,
        token=os.environ.get(args.token_env) or None,
        user=args.user,
        password=os.environ.get(args.password_env, "admin"),
    )
    print(f"pushed {len(uids)} dashboards: {', '.join(uids)}")
    return 0


def cmd_tenants_add(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.tenants import add_tenant

    role, password = add_tenant(
        settings, args.enterprise, args.role, os.environ.get(args.password_env)
    )
    print(f"role {role} reads enterprise {args.enterprise} only")
    if password is not None:
        print(f"password: {password}")
    return 0


def cmd_tenants_login(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.tenants import add_login

    password = add_login(settings, args.role, args.group, os.environ.get(args.password_env))
    print(f"role {args.role} is a member of {args.group}")
    if password is not None:
        print(f"password: {password}")
    return 0
