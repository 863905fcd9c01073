"""``greenmon gateway --config gateway.toml``: the edge gateway (Modbus TCP / OPC UA -> MQTT)."""

from __future__ import annotations

import argparse
from pathlib import Path

from greenmon.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``greenmon gateway --config FILE`` to the ``greenmon`` parser."""
    p = sub.add_parser(
        "gateway", help="poll Modbus TCP / OPC UA meters and publish them, with store-and-forward"
    )
    p.add_argument(
        "--config",
        dest="gateway_config",
        type=Path,
        required=True,
        metavar="GATEWAY.toml",
        help="meters, interval, queue and MQTT account",
    )
    p.set_defaults(handler=cmd_gateway)


def cmd_gateway(args: argparse.Namespace, _settings: Settings) -> int:
    import asyncio
    import signal

    from gateway.config import load_config
    from gateway.service import Gateway

    gateway = Gateway(load_config(args.gateway_config))

    def stop(_signum: int, _frame: object) -> None:
        gateway.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    asyncio.run(gateway.run())
    return 0
