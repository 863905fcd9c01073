"""The one back-off policy of greenmon: 1 s after a first failure, doubling, up to a maximum.

A leaf module (imports nothing of greenmon): the service runtime, database connects and
Kafka topic creation all wait by it."""

from __future__ import annotations

import time


class Backoff:
    """Delays between attempts after failures in a row; ``succeeded`` starts a new episode.

    ``failed()`` counts a failure and returns how long to wait; ``ready()`` says whether
    that wait is over (for work retried from a loop rather than waited for in place).
    """

    def __init__(self, max_s: float, first_s: float = 1.0) -> None:
        self.max_s = max_s
        self.first_s = first_s
        self.failures = 0
        self._retry_at = 0.0

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` (1, 2, ...) failures in a row."""
        return float(min(self.first_s * 2 ** min(max(failures - 1, 0), 16), self.max_s))

    def failed(self) -> float:
        self.failures += 1
        wait = self.delay(self.failures)
        self._retry_at = time.monotonic() + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self._retry_at = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self._retry_at
