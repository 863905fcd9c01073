"""Accounting: intensities per unit of industrial value-added, and progress against targets.

Pure domain code (no database, no broker). Energy (tce), CO2 (t) and water (m3) per
10^4 CNY of industrial value-added at constant 2020 prices; the cumulative reduction
since a plan period's base year; the target trajectory of that period; on-track status;
year-end projection and energy-cap burn rate; value-added and baseline imports; and
the accounting configuration (plan periods, target overrides, price index, caps,
electricity method). See DESIGN.md, "Intensity and progress".

Modules:

* :mod:`.plan` -- plan periods, target overrides (most specific wins), trajectory;
* :mod:`.indicators` -- intensity, per-indicator status, group totals;
* :mod:`.projection` -- year-end projection and cap burn;
* :mod:`.value_added` -- price index, deflation, value-added file and message;
* :mod:`.baseline` -- base-year totals per enterprise;
* :mod:`.config` -- the accounting configuration (TOML) and its packaged default.
"""
