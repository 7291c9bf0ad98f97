"""What one sample of every member's own answers says about the ensemble (pure: no network).

A sample is each member's ``mntr`` answer (``zk_server_state``, ``zk_peer_state`` and, on a leader,
``zk_synced_followers``) plus, on a leader, the epoch of its ``srvr`` Zxid, taken at about the same
moment. The ensemble has a quorum in a sample only when exactly one member leads and has finished
synchronising (``leading - broadcast``), the leader itself counts a majority including itself as synced,
and a majority of the members say so too (the leader plus followers in ``following - broadcast``). Two
members that both lead are a split brain, whatever else the sample says.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

LEADING = "leading - broadcast"
FOLLOWING = "following - broadcast"


def majority(members: int) -> int:
    """The least number of members that make a quorum."""
    return members // 2 + 1


@dataclass(frozen=True)
class Member:
    """One member's answer in a sample; ``state`` says why it has none (``unreachable``...) when it is down."""

    state: str
    peer_state: str = ""
    synced_followers: int | None = None
    epoch: int | None = None

    @classmethod
    def from_mntr(cls, mntr: Mapping[str, str], zxid: str | None = None) -> Member:
        """Read a member from its ``mntr`` pairs and, for a leader, its ``srvr`` Zxid (``0x<epoch><counter>``)."""
        synced = mntr.get("zk_synced_followers")
        return cls(
            state=mntr.get("zk_server_state", "not serving"),
            peer_state=mntr.get("zk_peer_state", ""),
            synced_followers=int(synced) if synced is not None else None,
            epoch=int(zxid, 16) >> 32 if zxid else None,
        )


class Verdict(StrEnum):
    """What a sample shows."""

    QUORUM = "one leader and a synced majority"
    NO_LEADER = "no leader"
    SPLIT_BRAIN = "more than one leader"
    NOT_SYNCED = "a leader without a synced majority"


def classify(sample: Mapping[str, Member], members: int) -> Verdict:
    """The verdict on one sample of an ensemble of ``members`` (the sample may lack unreachable members)."""
    leaders = [m for m in sample.values() if m.state == "leader"]
    if len(leaders) > 1:
        return Verdict.SPLIT_BRAIN
    if members == 1 and any(m.state == "standalone" for m in sample.values()):
        return Verdict.QUORUM
    if not leaders:
        return Verdict.NO_LEADER
    leader = leaders[0]
    need = majority(members)
    followers = sum(m.state == "follower" and m.peer_state == FOLLOWING for m in sample.values())
    counted = (leader.synced_followers or 0) + 1
    if leader.peer_state != LEADING or counted < need or followers + 1 < need:
        return Verdict.NOT_SYNCED
    return Verdict.QUORUM


def leader_of(sample: Mapping[str, Member]) -> str | None:
    """The one leading member of a sample, if exactly one leads."""
    leaders = [host for host, m in sample.items() if m.state == "leader"]
    return leaders[0] if len(leaders) == 1 else None


@dataclass(frozen=True)
class Stretch:
    """A run of consecutive samples without a quorum: how long, and what its first sample showed."""

    seconds: float
    verdict: Verdict
    first: Mapping[str, Member]


def outages(samples: Sequence[tuple[float, Mapping[str, Member]]], members: int) -> list[Stretch]:
    """Every stretch without a quorum, from its first such sample to the next sample with one (or the last)."""
    found: list[Stretch] = []
    start: tuple[float, Verdict, Mapping[str, Member]] | None = None
    for at, sample in samples:
        verdict = classify(sample, members)
        if verdict is not Verdict.QUORUM:
            start = start or (at, verdict, sample)
        elif start is not None:
            found.append(Stretch(at - start[0], start[1], start[2]))
            start = None
    if start is not None:
        found.append(Stretch(samples[-1][0] - start[0], start[1], start[2]))
    return found


def elections(samples: Sequence[tuple[float, Mapping[str, Member]]], members: int) -> int:
    """How many times a new leader epoch took over, counted over the samples with a quorum."""
    epochs = [
        leader.epoch
        for _, sample in samples
        if classify(sample, members) is Verdict.QUORUM
        for host in [leader_of(sample)]
        if host is not None
        for leader in [sample[host]]
        if leader.epoch is not None
    ]
    return sum(a != b for a, b in itertools.pairwise(epochs))
