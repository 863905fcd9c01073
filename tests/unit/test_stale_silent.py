"""A meter whose Sparkplug node died (stale) is silent at once for the silent-meter rule."""

from __future__ import annotations

from datetime import timedelta

from alerts import checks
from alerts.store import MeterInfo
from tests.unit.test_windows import RULES, T0


def test_stale_meter_fires_without_waiting_and_a_later_reading_clears_it() -> None:
    meters = {m: MeterInfo(m, "E1", "electricity", "kWh") for m in ("M1", "M2", "M3", "M4")}
    now = T0 + timedelta(hours=1)
    arrivals = {"M1": now - timedelta(seconds=5), "M2": now - timedelta(seconds=4),
                "M3": now - timedelta(seconds=5)}  # fmt: skip
    stale = {
        "M1": now - timedelta(seconds=2),  # died after its last reading: silent now
        "M2": now - timedelta(seconds=9),  # a reading came after the death: live
        "M4": now - timedelta(seconds=1),  # never reported, died: silent
    }
    got = {
        c.fingerprint: c.obs.level
        for c in checks.silent_candidates(RULES, meters, arrivals, now, stale)
    }
    assert got == {"quiet/meter/M1": "fire", "quiet/meter/M2": "clear",
                   "quiet/meter/M3": "clear", "quiet/meter/M4": "fire",
                   "quiet/enterprise/E1": "fire"}  # fmt: skip
    without = {
        c.fingerprint: c.obs.level for c in checks.silent_candidates(RULES, meters, arrivals, now)
    }
    assert without["quiet/meter/M1"] == "clear" and "quiet/meter/M4" not in without
