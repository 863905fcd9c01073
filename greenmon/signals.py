"""Stop a long-running service cleanly on SIGTERM and Ctrl-C.

Shared by every ``greenmon`` subcommand that runs a service, so that a service's
own CLI module needs nothing from ``greenmon.cli`` (which imports it).
"""

from __future__ import annotations

import logging
import signal
from typing import Protocol

log = logging.getLogger("greenmon")


class Stoppable(Protocol):
    def stop(self) -> None: ...


def stop_on_signals(service: Stoppable) -> None:
    """Call ``service.stop()`` on SIGTERM and SIGINT (Ctrl-C)."""

    def handle(signum: int, _frame: object) -> None:
        log.info("received signal %s, stopping", signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
