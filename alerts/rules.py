"""Alert rules and delivery channels as data: the YAML model, parsed with pydantic. Pure.

A rules file has a ``rules:`` list and an optional ``channels:`` list::

    rules:
      - id: demand-high
        scope: meter                 # meter | enterprise | district | industry | city
        severity: warning            # info | warning | critical
        match: {carrier: electricity}
        threshold: {measure: demand_kw, above: 800, recover_below: 400, for: 30m}
        renotify: 4h
    channels:
      - {enterprise: A, kind: webhook, target: "https://a.example/hook", secret: "..."}

Every error names the rule (or channel) it is about.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from greenmon.errors import InvalidInput

Scope = Literal["meter", "enterprise", "district", "industry", "city"]
Severity = Literal["info", "warning", "critical"]
Measure = Literal["demand_kw", "flow", "quantity"]

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_s(value: object) -> float:
    """Seconds of ``30m``, ``2h``, ``15s``, ``1d`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration like 30m")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration like 15s, 30m, 2h or 1d")
        seconds = float(match[1]) * _UNIT_S[match[2] or "s"]
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Threshold(_Strict):
    """A live measure above ``above`` (or below ``below``) for ``for``, with hysteresis."""

    measure: Measure
    above: float | None = None
    below: float | None = None
    recover_below: float | None = None
    recover_above: float | None = None
    for_s: float = Field(0.0, alias="for")

    @field_validator("for_s", mode="before")
    @classmethod
    def _dur(cls, v: object) -> float:
        return duration_s(v)

    @model_validator(mode="after")
    def _one_direction(self) -> Threshold:
        if (self.above is None) == (self.below is None):
            raise ValueError("a threshold needs exactly one of 'above' or 'below'")
        if self.above is not None:
            if self.recover_above is not None:
                raise ValueError("'above' recovers with 'recover_below'")
            if self.recover_below is not None and self.recover_below > self.above:
                raise ValueError("recover_below must not exceed above (hysteresis)")
        if self.below is not None:
            if self.recover_below is not None:
                raise ValueError("'below' recovers with 'recover_above'")
            if self.recover_above is not None and self.recover_above < self.below:
                raise ValueError("recover_above must not be below 'below' (hysteresis)")
        return self

    @property
    def fire_at(self) -> float:
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    @property
    def recover_at(self) -> float:
        if self.above is not None:
            return self.recover_below if self.recover_below is not None else self.above
        return self.recover_above if self.recover_above is not None else self.fire_at

    def level(self, value: float) -> Level:
        """``fire`` beyond the threshold, ``clear`` past the recovery one, else ``hold``."""
        if self.above is not None:
            if value > self.above:
                return "fire"
            return "clear" if value < self.recover_at else "hold"
        if value < self.fire_at:
            return "fire"
        return "clear" if value > self.recover_at else "hold"


Level = Literal["fire", "hold", "clear"]


class BehindTarget(_Strict):
    """Year-to-date intensity above the year's trajectory by more than ``margin`` (a share)."""

    indicator: Literal["energy", "co2", "water"] = "energy"
    margin: float = Field(0.0, ge=0)


class CapBurn(_Strict):
    """The year-end projection exceeds the enterprise's energy cap by more than ``margin``."""

    margin: float = Field(0.0, ge=0)


class SavingsNegative(_Strict):
    """Energy savings against the enterprise's EnPI baseline (expected - actual, ISO 50006)
    negative for ``months`` consecutive months (the newest ones with data)."""

    months: int = Field(2, ge=1)


class Silent(_Strict):
    """No reading stored for ``intervals`` x ``interval`` (wall clock, by arrival)."""

    intervals: int = Field(4, ge=1)
    interval_s: float = Field(900.0, alias="interval", gt=0)
    #: an enterprise alert when at least this many of its meters are silent
    enterprise_min_meters: int = Field(2, ge=1)

    @field_validator("interval_s", mode="before")
    @classmethod
    def _dur(cls, v: object) -> float:
        return duration_s(v)

    @property
    def after_s(self) -> float:
        return self.intervals * self.interval_s


class DataQuality(_Strict):
    """A meter's latest daily quality: completeness below a bound, quarantines, resets."""

    completeness_below: float | None = Field(None, ge=0, le=1)
    quarantined_above: int | None = Field(None, ge=0)
    resets_above: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> DataQuality:
        if (self.completeness_below, self.quarantined_above, self.resets_above) == (None,) * 3:
            raise ValueError("data_quality needs completeness_below, quarantined_above or "
                             "resets_above")  # fmt: skip
        return self


class Match(_Strict):
    """Which entities a rule applies to (every one when empty)."""

    enterprise: list[str] = Field(default_factory=list)
    meter: list[str] = Field(default_factory=list)
    carrier: list[str] = Field(default_factory=list)

    @field_validator("enterprise", "meter", "carrier", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


ConditionKind = Literal[
    "threshold", "behind_target", "cap_burn", "silent", "data_quality", "savings_negative"
]
_SCOPES: dict[str, tuple[str, ...]] = {
    "threshold": ("meter", "enterprise", "district", "industry", "city"),
    "behind_target": ("enterprise", "district", "industry", "city"),
    "cap_burn": ("enterprise",),
    "silent": ("meter",),
    "data_quality": ("meter",),
    "savings_negative": ("enterprise",),
}


class Rule(_Strict):
    id: str
    scope: Scope
    severity: Severity = "warning"
    description: str = ""
    #: None: a rule for everyone; an enterprise id: that enterprise's own rule
    enterprise: str | None = None
    match: Match = Field(default_factory=Match)
    renotify_s: float | None = Field(None, alias="renotify")
    enabled: bool = True
    threshold: Threshold | None = None
    behind_target: BehindTarget | None = None
    cap_burn: CapBurn | None = None
    silent: Silent | None = None
    data_quality: DataQuality | None = None
    savings_negative: SavingsNegative | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("rule id must be 1-64 of letters, digits, '_', '-', '.'")
        return v

    @field_validator("renotify_s", mode="before")
    @classmethod
    def _renotify(cls, v: object) -> object:
        return None if v is None else duration_s(v)

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        kinds = [k for k in _SCOPES if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"needs exactly one condition of {', '.join(_SCOPES)}; has {kinds}")
        if self.scope not in _SCOPES[kinds[0]]:
            raise ValueError(f"{kinds[0]} rules have scope {' or '.join(_SCOPES[kinds[0]])}")
        t = self.threshold
        if (t is not None and self.scope != "meter" and t.measure != "demand_kw"
                and len(self.match.carrier) != 1):  # fmt: skip
            raise ValueError(f"a {self.scope} {t.measure} threshold sums one carrier: "
                                 "give exactly one in match.carrier")  # fmt: skip
        if self.enterprise is not None:
            object.__setattr__(
                self, "match", self.match.model_copy(update={"enterprise": [self.enterprise]})
            )
        return self

    @property
    def kind(self) -> ConditionKind:
        kinds: tuple[ConditionKind, ...] = ("threshold", "behind_target", "cap_burn", "silent",
                                           "data_quality", "savings_negative")  # fmt: skip
        return next(k for k in kinds if getattr(self, k) is not None)

    def applies(
        self, *, enterprise: str, meter: str | None = None, carrier: str | None = None
    ) -> bool:
        m = self.match
        if m.enterprise and enterprise not in m.enterprise:
            return False
        if m.meter and meter not in m.meter:
            return False
        return not (m.carrier and carrier not in m.carrier)


class Channel(_Strict):
    """Where an enterprise's alerts go besides its MQTT topic."""

    enterprise: str
    kind: Literal["mqtt", "webhook", "email"]
    target: str = ""
    secret: str | None = Field(None, repr=False)
    secret_env: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Channel:
        if self.kind == "webhook" and not self.target.startswith(("http://", "https://")):
            raise ValueError("a webhook target is an http:// or https:// URL")
        if self.kind == "email" and "@" not in self.target:
            raise ValueError("an email target is an address")
        if self.kind == "webhook" and (self.secret is None) == (self.secret_env is None):
            raise ValueError("a webhook needs a secret, or secret_env naming a variable "
                             "(one of the two)")  # fmt: skip
        return self

    @property
    def label(self) -> str:
        return f"{self.enterprise}/{self.kind}"


class RuleSet(_Strict):
    rules: list[Rule] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)


def _where(loc: tuple[int | str, ...], doc: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] in ("rules", "channels") and isinstance(loc[1], int):
        items = doc.get(str(loc[0])) or []
        item = items[loc[1]] if loc[1] < len(items) else {}
        name = item.get("id") if loc[0] == "rules" and isinstance(item, dict) else None
        if loc[0] == "channels" and isinstance(item, dict):
            name = f"{item.get('enterprise')}/{item.get('kind')}"
        head = f"{'rule' if loc[0] == 'rules' else 'channel'} {name or f'#{loc[1] + 1}'}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"{head}: {rest}" if rest else head
    return ".".join(str(p) for p in loc) or "file"


def parse_rules(text: str) -> RuleSet:
    """Parse a rules file; InvalidInput names the rule and the field at fault."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"rules file is not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("rules file must be a mapping with 'rules' (and 'channels')")
    try:
        ruleset = RuleSet.model_validate(doc)
    except ValidationError as exc:
        problems = [
            f"{_where(tuple(e['loc']), doc)}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise InvalidInput("invalid rules file: " + "; ".join(problems)) from None
    ids = [r.id for r in ruleset.rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InvalidInput(f"invalid rules file: rule id(s) used twice: {', '.join(dupes)}")
    return ruleset


def rule_from_json(doc: dict[str, Any]) -> Rule:
    return Rule.model_validate(doc)


def rule_to_json(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json", by_alias=True, exclude_none=True)
