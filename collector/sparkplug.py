"""Sparkplug B host-side session state, per edge node (pure: no I/O, time passed in).

Per edge node greenmon keeps what the specification makes a host application keep:
the birth/death sequence number ``bdSeq`` of the current session, the message
sequence number ``seq`` (0-255, wrapping), and the aliases the birth certificates
(NBIRTH for the node, DBIRTH for each device) gave the metrics' names.

* A sequence gap, an alias no birth defined, or data from a node (or device) with
  no birth yet asks for a Rebirth command (NCMD ``Node Control/Rebirth``), at most
  once per :data:`REBIRTH_HOLDOFF_S` per node. What can still be mapped (metrics
  that carry their name, aliases of the current birth) is mapped; the rest is
  returned with the reason, to be dead-lettered.
* A message repeating the last ``seq`` is an MQTT redelivery, not a gap.
* An NDEATH whose ``bdSeq`` matches the current birth ends the session and returns
  every metric name of the node and its devices (their meters go stale); one with
  another ``bdSeq`` is the late will of an older session and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from collector.sparkplug_wire import (
    BDSEQ_METRIC,
    MessageType,
    SpMetric,
    SpPayload,
    SpTopic,
)

#: a node is asked for a rebirth at most this often (seconds)
REBIRTH_HOLDOFF_S: Final = 5.0
SEQ_MODULO: Final = 256
#: metric names of the specification's own, never meters
_CONTROL_PREFIXES: Final = ("Node Control/", "Device Control/", "Properties/", "Node Info/")


@dataclass(frozen=True, slots=True)
class Named:
    """A metric of a message with its name resolved (``index``: its place in the payload)."""

    index: int
    name: str
    metric: SpMetric
    datatype: int | None


@dataclass(frozen=True, slots=True)
class Unmapped:
    index: int
    metric: SpMetric
    reason: str


@dataclass(slots=True)
class Outcome:
    """What one message means: metrics to book, metrics to dead-letter, commands, staleness."""

    named: list[Named] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    rebirth: str | None = None  # why a rebirth is asked for (None: it is not)
    stale: list[str] = field(default_factory=list)  # metric names whose meters went stale
    note: str | None = None  # something worth a log line that is not a dead letter


@dataclass(slots=True)
class NodeSession:
    bd_seq: int | None = None
    seq: int | None = None
    born: bool = False
    aliases: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    node_metrics: set[str] = field(default_factory=set)
    devices: dict[str, set[str]] = field(default_factory=dict)
    rebirth_asked_at: float | None = None


class SessionBook:
    """Every edge node's session; :meth:`handle` one message at a time, in arrival order."""

    def __init__(self, holdoff_s: float = REBIRTH_HOLDOFF_S) -> None:
        self._nodes: dict[tuple[str, str], NodeSession] = {}
        self._holdoff_s = holdoff_s

    def session(self, group_id: str, edge_node_id: str) -> NodeSession | None:
        return self._nodes.get((group_id, edge_node_id))

    def handle(self, topic: SpTopic, payload: SpPayload, now: float) -> Outcome:
        kind = topic.message_type
        if kind is MessageType.NBIRTH:
            out = self._node_birth(topic, payload)
        elif kind is MessageType.NDEATH:
            out = self._node_death(topic, payload)
        elif kind in (MessageType.NDATA, MessageType.DBIRTH, MessageType.DDATA, MessageType.DDEATH):
            out = self._in_session(topic, payload)
        else:  # commands (the collector's own Rebirth requests come back to it) and STATE
            return Outcome()
        if out.rebirth is not None:
            self._throttle(topic, out, now)
        return out

    # --- births and deaths ---------------------------------------------------------------
    def _node_birth(self, topic: SpTopic, payload: SpPayload) -> Outcome:
        session = NodeSession(born=True, seq=payload.seq)
        for metric in payload.metrics:
            if metric.name == BDSEQ_METRIC and isinstance(metric.value, int):
                session.bd_seq = metric.value
        self._nodes[topic.node_key] = session
        out = Outcome()
        self._define(session, payload, out, session.node_metrics)
        return out

    def _node_death(self, topic: SpTopic, payload: SpPayload) -> Outcome:
        session = self._nodes.get(topic.node_key)
        bd_seq = next(
            (
                m.value
                for m in payload.metrics
                if m.name == BDSEQ_METRIC and isinstance(m.value, int)
            ),
            None,
        )
        if session is None or not session.born:
            return Outcome(note=f"NDEATH of {topic.edge_node_id} with no session: nothing to end")
        if bd_seq != session.bd_seq:
            return Outcome(
                note=f"NDEATH of {topic.edge_node_id} with bdSeq {bd_seq}, current birth has "
                f"{session.bd_seq}: an older session's will, ignored"
            )
        stale = sorted(session.node_metrics.union(*session.devices.values()))
        del self._nodes[topic.node_key]
        return Outcome(stale=stale)

    def _define(
        self, session: NodeSession, payload: SpPayload, out: Outcome, names: set[str]
    ) -> None:
        """A birth: remember names, aliases and datatypes, and take its values as data."""
        for index, metric in enumerate(payload.metrics):
            if metric.name is None:
                out.unmapped.append(
                    Unmapped(index, metric, "a birth certificate metric has no name")
                )
                continue
            if metric.alias is not None:
                session.aliases[metric.alias] = (metric.name, metric.datatype)
            if _is_control(metric.name):
                continue
            names.add(metric.name)
            out.named.append(Named(index, metric.name, metric, metric.datatype))

    # --- messages within a session ---------------------------------------------------------
    def _in_session(self, topic: SpTopic, payload: SpPayload) -> Outcome:
        session = self._nodes.get(topic.node_key)
        out = Outcome()
        node = topic.edge_node_id
        if session is None or not session.born:
            session = self._nodes.setdefault(topic.node_key, NodeSession())
            out.rebirth = f"{topic.message_type.value} from edge node {node!r} before its NBIRTH"
        else:
            self._check_seq(session, payload, out, node)
        kind, device = topic.message_type, topic.device_id
        if kind is MessageType.DBIRTH and device is not None:
            if session.born:
                names = session.devices.setdefault(device, set())
                names.clear()
                self._define(session, payload, out, names)
            else:
                self._resolve(session, payload, out, why=out.rebirth or "")
            return out
        if kind is MessageType.DDEATH and device is not None:
            out.stale = sorted(session.devices.pop(device, set()))
            return out
        if kind is MessageType.DDATA and device not in session.devices and session.born:
            out.rebirth = (
                out.rebirth or f"DDATA from device {device!r} of {node!r} before its DBIRTH"
            )
        self._resolve(session, payload, out, why=out.rebirth or "")
        return out

    def _check_seq(self, session: NodeSession, payload: SpPayload, out: Outcome, node: str) -> None:
        seq, last = payload.seq, session.seq
        if seq is None:
            out.rebirth = f"message from edge node {node!r} without seq"
            return
        if last is None or seq == (last + 1) % SEQ_MODULO:
            session.seq = seq
        elif seq != last:  # the same seq again is an MQTT redelivery
            expected = (last + 1) % SEQ_MODULO
            out.rebirth = (
                f"sequence gap from edge node {node!r}: expected seq {expected}, got {seq}"
            )
            session.seq = seq

    def _resolve(self, session: NodeSession, payload: SpPayload, out: Outcome, why: str) -> None:
        """Names for the metrics of a data message: their own, or their alias's."""
        for index, metric in enumerate(payload.metrics):
            if metric.name is not None:
                known = session.aliases.get(metric.alias) if metric.alias is not None else None
                datatype = (
                    metric.datatype if metric.datatype is not None else (known or ("", None))[1]
                )
                if not _is_control(metric.name):
                    out.named.append(Named(index, metric.name, metric, datatype))
                continue
            if metric.alias is not None and metric.alias in session.aliases:
                name, datatype = session.aliases[metric.alias]
                if not _is_control(name):
                    out.named.append(Named(index, name, metric, metric.datatype or datatype))
                continue
            reason = (
                f"metric alias {metric.alias} is not defined by the current birth certificate"
                if metric.alias is not None
                else "metric has neither name nor alias"
            )
            if why:
                reason += f" ({why})"
            elif metric.alias is not None:
                out.rebirth = out.rebirth or f"unknown alias {metric.alias}"
            out.unmapped.append(Unmapped(index, metric, reason + "; rebirth requested"))

    def _throttle(self, topic: SpTopic, out: Outcome, now: float) -> None:
        """Keep the rebirth request only if the node was not asked within the hold-off."""
        session = self._nodes.setdefault(topic.node_key, NodeSession())
        asked = session.rebirth_asked_at
        if asked is not None and now - asked < self._holdoff_s:
            out.note = f"rebirth of {topic.edge_node_id!r} already asked for: {out.rebirth}"
            out.rebirth = None
            return
        session.rebirth_asked_at = now


def _is_control(name: str) -> bool:
    return name == BDSEQ_METRIC or name.startswith(_CONTROL_PREFIXES)
