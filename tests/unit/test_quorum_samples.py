"""The quorum monitor's judgement of one sample of every member's answers (harness/quorum.py)."""

from __future__ import annotations

from collections.abc import Mapping

from harness.quorum import FOLLOWING, LEADING, Member, Verdict, classify, elections, outages


def leader(synced: int = 2, epoch: int = 7, peer_state: str = LEADING) -> Member:
    return Member(state="leader", peer_state=peer_state, synced_followers=synced, epoch=epoch)


FOLLOWER = Member(state="follower", peer_state=FOLLOWING)
SYNCING = Member(state="follower", peer_state="following - synchronization")
DOWN = Member(state="unreachable (ConnectionRefusedError)")
LOOKING = Member(state="not serving")


def sample(*members: Member) -> dict[str, Member]:
    return {f"zk-{i}": m for i, m in enumerate(members)}


def test_one_leader_with_every_follower_synced_is_a_quorum() -> None:
    assert classify(sample(leader(), FOLLOWER, FOLLOWER), 3) is Verdict.QUORUM


def test_one_leader_and_one_synced_follower_of_three_is_a_quorum() -> None:
    assert classify(sample(leader(synced=1), FOLLOWER, DOWN), 3) is Verdict.QUORUM


def test_two_leaders_in_one_sample_are_a_split_brain_even_with_synced_followers() -> None:
    assert classify(sample(leader(), leader(), FOLLOWER), 3) is Verdict.SPLIT_BRAIN


def test_two_leaders_of_five_each_with_followers_are_a_split_brain() -> None:
    assert classify(sample(leader(synced=2), FOLLOWER, FOLLOWER, leader(synced=1), FOLLOWER), 5) is Verdict.SPLIT_BRAIN


def test_followers_without_a_leader_are_no_quorum() -> None:
    assert classify(sample(FOLLOWER, FOLLOWER, LOOKING), 3) is Verdict.NO_LEADER


def test_a_leader_that_counts_no_synced_follower_has_no_quorum_though_followers_say_they_follow() -> None:
    assert classify(sample(leader(synced=0), FOLLOWER, FOLLOWER), 3) is Verdict.NOT_SYNCED


def test_a_leader_whose_followers_are_still_synchronising_has_no_quorum() -> None:
    assert classify(sample(leader(synced=2), SYNCING, SYNCING), 3) is Verdict.NOT_SYNCED


def test_a_leader_still_in_its_discovery_phase_has_no_quorum() -> None:
    assert classify(sample(leader(peer_state="leading - discovery"), FOLLOWER, FOLLOWER), 3) is Verdict.NOT_SYNCED


def test_a_leader_alone_of_three_has_no_quorum() -> None:
    assert classify(sample(leader(synced=0), DOWN, DOWN), 3) is Verdict.NOT_SYNCED


def test_a_sample_missing_members_is_judged_against_the_whole_ensemble() -> None:
    assert classify({"zk-0": leader(synced=1), "zk-1": FOLLOWER}, 5) is Verdict.NOT_SYNCED


def test_a_standalone_server_is_the_quorum_of_a_one_member_ensemble() -> None:
    assert classify(sample(Member(state="standalone")), 1) is Verdict.QUORUM


def test_mntr_and_srvr_answers_make_a_member_with_the_leader_epoch() -> None:
    pairs = {"zk_server_state": "leader", "zk_peer_state": LEADING, "zk_synced_followers": "2"}
    assert Member.from_mntr(pairs, "0x3900000000") == Member("leader", LEADING, 2, 0x39)


def test_a_member_that_is_not_serving_answers_no_state() -> None:
    assert Member.from_mntr({}).state == "not serving"


def timeline(*verdicts: Mapping[str, Member]) -> list[tuple[float, Mapping[str, Member]]]:
    return [(float(i), s) for i, s in enumerate(verdicts)]


def test_an_outage_lasts_from_its_first_sample_without_quorum_to_the_next_with_one() -> None:
    found = outages(timeline(sample(leader(), FOLLOWER, FOLLOWER), sample(LOOKING, FOLLOWER, DOWN),
                             sample(LOOKING, LOOKING, DOWN), sample(leader(), FOLLOWER, FOLLOWER)), 3)
    assert [(s.seconds, s.verdict) for s in found] == [(2.0, Verdict.NO_LEADER)]


def test_an_outage_still_running_at_the_last_sample_is_counted() -> None:
    found = outages(timeline(sample(leader(), FOLLOWER, FOLLOWER), sample(DOWN, DOWN, DOWN),
                             sample(DOWN, DOWN, DOWN)), 3)
    assert [s.seconds for s in found] == [1.0]


def test_a_new_leader_epoch_counts_one_election_and_a_steady_leader_none() -> None:
    steady = sample(leader(epoch=7), FOLLOWER, FOLLOWER)
    moved = sample(FOLLOWER, leader(epoch=8), FOLLOWER)
    assert elections(timeline(steady, steady, sample(DOWN, LOOKING, LOOKING), moved, moved), 3) == 1
    assert elections(timeline(steady, steady), 3) == 0


def test_a_leader_re_elected_under_a_new_epoch_counts_as_an_election() -> None:
    first, again = sample(leader(epoch=7), FOLLOWER, FOLLOWER), sample(leader(epoch=8), FOLLOWER, FOLLOWER)
    assert elections(timeline(first, again), 3) == 1
