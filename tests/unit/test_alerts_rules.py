"""Alert rules as YAML: the example file, durations, and errors that name the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.rules import duration_s, parse_rules, rule_from_json, rule_to_json
from greenmon.errors import InvalidInput

EXAMPLE = Path(__file__).resolve().parents[2] / "alerts" / "rules.example.yaml"


def test_example_file_parses_and_round_trips_through_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENMON_E001_WEBHOOK_SECRET", "s3cret")
    ruleset = parse_rules(EXAMPLE.read_text("utf-8"))
    kinds = {r.id: r.kind for r in ruleset.rules}
    assert kinds["demand-high"] == "threshold"
    assert {"silent", "behind_target", "cap_burn", "data_quality"} <= set(kinds.values())
    demand = next(r for r in ruleset.rules if r.id == "demand-high")
    assert demand.threshold is not None
    assert (demand.threshold.fire_at, demand.threshold.recover_at) == (800, 400)
    assert demand.threshold.for_s == 1800 and demand.renotify_s == 4 * 3600
    own = next(r for r in ruleset.rules if r.id == "e1-demand-high")
    assert own.applies(enterprise="E001", carrier="electricity")
    assert not own.applies(enterprise="E002", carrier="electricity")
    for rule in ruleset.rules:
        assert rule_from_json(rule_to_json(rule)) == rule
    assert ruleset.channels[0].secret_env == "GREENMON_E001_WEBHOOK_SECRET"  # noqa: S105
    assert "s3cret" not in repr(ruleset.channels[0])


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("15s", 15), ("2h", 7200), ("1d", 86400), (90, 90)]
)
def test_durations(text: object, seconds: float) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("- id: hot\n  scope: meter\n  threshold: {measure: demand_kw, above: 5, for: soon}",
         "rule hot: threshold.for"),
        ("- id: hot\n  scope: meter\n  threshold: {measure: demand_kw, above: 5, "
         "recover_below: 9}", "rule hot: threshold"),
        ("- id: both\n  scope: meter\n  silent: {}\n  threshold: {measure: flow, above: 1}",
         "rule both: needs exactly one condition"),
        ("- id: wide\n  scope: city\n  cap_burn: {}",
         "rule wide: cap_burn rules have scope enterprise"),
        ("- id: typo\n  scope: meter\n  silent: {intervalz: 3}", "rule typo: silent.intervalz"),
        ("- scope: meter\n  silent: {}", "rule #1: id"),
        ("- id: dq\n  scope: meter\n  data_quality: {}", "rule dq: data_quality"),
        ("- id: a b\n  scope: meter\n  silent: {}", "rule a b: id"),
    ],
)  # fmt: skip
def test_errors_name_the_rule_and_field(body: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_rules("rules:\n" + "\n".join("  " + line for line in body.splitlines()))
    assert expected in str(err.value)


def test_duplicate_ids_and_bad_channels_are_refused() -> None:
    rule = "  - {id: x, scope: meter, silent: {}}\n"
    with pytest.raises(InvalidInput, match="used twice: x"):
        parse_rules("rules:\n" + rule + rule)
    with pytest.raises(InvalidInput, match=r"channel A/webhook: .*secret"):
        parse_rules("channels:\n  - {enterprise: A, kind: webhook, target: 'http://h/'}\n")
    with pytest.raises(InvalidInput, match=r"channel A/webhook: .*one of the two"):
        parse_rules("channels:\n  - {enterprise: A, kind: webhook, target: 'http://h/', "
                    "secret: s, secret_env: S}\n")  # fmt: skip
    with pytest.raises(InvalidInput, match="channel A/email"):
        parse_rules("channels:\n  - {enterprise: A, kind: email, target: nobody}\n")
    with pytest.raises(InvalidInput, match="not YAML"):
        parse_rules("rules: [\n")
