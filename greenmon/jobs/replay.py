"""``greenmon replay``: publish a recorded meter file as interval readings over MQTT."""

from __future__ import annotations

import argparse
import os
from zoneinfo import ZoneInfo

from greenmon.feeds.publisher import publish
from greenmon.feeds.replay import replay_readings, replay_registry
from greenmon.jobs.simulate import Progress
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry


def run(args: argparse.Namespace, settings: Settings) -> int:
    tz = ZoneInfo(args.tz) if args.tz else settings.tz
    if not args.no_load:
        with db.connect(settings, attempts=5) as conn:
            upsert_registry(conn, replay_registry(args.enterprise, args.meter))
    progress = Progress("replayed", None)
    sent = publish(
        replay_readings(args.file, args.enterprise, args.meter, tz),
        settings,
        speed=None,
        progress=progress,
        client_id=f"greenmon-replay-{os.getpid()}",
    )
    progress.done()
    print(f"replayed {sent} readings of {args.file} as meter {args.meter}")
    return 0
