"""Sans-I/O cores, unit-tested on their own: the live's ordering ``Channel``, socket
``Admission`` and the presence ``tally`` (no sockets, no database, no event loop)."""

from __future__ import annotations

import pytest

from app.admission import Admission, Ticket
from live.channel import Channel
from live.frames import Frame
from live.presence import LocalPresence, tally

LIVE = 7


def frame(seq: int) -> Frame:
    return Frame.make("pinned", LIVE, {"n": seq}, seq=seq)


def seqs(frames: list[Frame] | None) -> list[int | None] | None:
    return None if frames is None else [f.seq for f in frames]


def started(head: int = 0, ring_size: int = 1024) -> Channel:
    channel = Channel(LIVE, ring_size=ring_size)
    assert channel.start(head) == []
    return channel


# ---- Channel: order, duplicates, gaps


def test_frames_in_order_go_out_one_by_one() -> None:
    channel = started(0)
    assert channel.started and channel.delivered == 0
    for seq in range(1, 6):
        assert seqs(channel.accept(frame(seq))) == [seq]
        assert not channel.missing
    assert channel.delivered == 5


def test_frames_out_of_order_are_held_and_released_in_order() -> None:
    channel = started(1)
    assert channel.accept(frame(3)) == []
    assert channel.missing
    assert channel.delivered == 1
    released = channel.accept(frame(2))
    assert seqs(released) == [2, 3]
    assert not channel.missing
    assert channel.delivered == 3


def test_the_same_frame_object_is_handed_out() -> None:
    channel = started(0)
    two, one = frame(2), frame(1)
    channel.accept(two)
    released = channel.accept(one)
    assert released[0] is one and released[1] is two


def test_duplicates_are_dropped_own_echo_and_double_refill() -> None:
    channel = started(0)
    mine = frame(1)
    assert seqs(channel.accept(mine)) == [1]  # announced here first...
    assert channel.accept(frame(1)) == []  # ...then its echo through the broker
    assert channel.accept(mine) == []
    # Refilled twice, overlapping what was delivered already.
    assert seqs(channel.refill([frame(1), frame(2), frame(3)])) == [2, 3]
    assert channel.refill([frame(2), frame(3)]) == []
    assert channel.accept(frame(3)) == []
    # A frame held ahead of a hole, accepted twice, still goes out once.
    assert channel.accept(frame(5)) == []
    assert channel.accept(frame(5)) == []
    assert seqs(channel.refill([frame(4), frame(5)])) == [4, 5]
    assert channel.delivered == 5
    assert seqs(channel.since(0)) == [1, 2, 3, 4, 5]


def test_frames_without_seq_are_ignored() -> None:
    channel = started(0)
    assert channel.accept(Frame.make("viewers", LIVE, {"count": 3})) == []
    assert not channel.missing and channel.delivered == 0


def test_missing_while_a_hole_is_open_and_refill_closes_it() -> None:
    channel = started(0)
    assert seqs(channel.accept(frame(1))) == [1]
    assert channel.accept(frame(4)) == []
    assert channel.missing
    assert channel.accept(frame(6)) == []
    assert channel.missing
    # A refill that closes the first hole only: 2..4 go out, 6 still waits for 5.
    assert seqs(channel.refill([frame(2), frame(3)])) == [2, 3, 4]
    assert channel.missing
    assert channel.delivered == 4
    assert seqs(channel.refill([frame(5)])) == [5, 6]
    assert not channel.missing
    assert channel.delivered == 6


def test_an_empty_refill_changes_nothing() -> None:
    channel = started(0)
    channel.accept(frame(3))
    assert channel.refill([]) == []
    assert channel.missing and channel.delivered == 0


# ---- Channel: before start


def test_frames_before_start_are_held_and_released_by_start() -> None:
    channel = Channel(LIVE)
    assert not channel.started
    for seq in (4, 2, 5, 3, 7):
        assert channel.accept(frame(seq)) == []
    assert channel.delivered == -1
    # The log's head was 3: 2 and 3 are the snapshot's business, 4 and 5 go out,
    # 7 waits for 6.
    assert seqs(channel.start(3)) == [4, 5]
    assert channel.delivered == 5
    assert channel.missing
    assert seqs(channel.accept(frame(6))) == [6, 7]
    assert not channel.missing


def test_start_beyond_every_held_frame_drops_them_all() -> None:
    channel = Channel(LIVE)
    channel.accept(frame(1))
    channel.accept(frame(2))
    assert channel.start(5) == []
    assert not channel.missing
    assert channel.delivered == 5
    assert seqs(channel.accept(frame(6))) == [6]


def test_start_at_zero_for_a_new_live() -> None:
    channel = Channel(LIVE)
    assert channel.accept(frame(1)) == []
    assert seqs(channel.start(0)) == [1]


# ---- Channel: since()


def test_since_before_start_is_none() -> None:
    channel = Channel(LIVE)
    assert channel.since(0) is None
    channel.accept(frame(1))
    assert channel.since(0) is None


def test_since_boundaries() -> None:
    channel = started(10)
    # Nothing delivered through the channel yet: after >= delivered → [].
    assert channel.since(10) == []
    assert channel.since(11) == []
    # Memory does not reach back before the head it started at.
    assert channel.since(9) is None
    for seq in range(11, 16):
        channel.accept(frame(seq))
    assert channel.delivered == 15
    assert channel.since(15) == []  # exactly delivered
    assert channel.since(99) == []  # ahead of delivered
    assert seqs(channel.since(14)) == [15]
    assert seqs(channel.since(10)) == [11, 12, 13, 14, 15]  # the ring's first frame is 11
    assert seqs(channel.since(11)) == [12, 13, 14, 15]
    assert channel.since(9) is None  # 10 was never in memory
    assert channel.since(0) is None


def test_since_ignores_held_frames() -> None:
    channel = started(0)
    channel.accept(frame(1))
    channel.accept(frame(3))  # held: not delivered, not in since()
    assert seqs(channel.since(0)) == [1]
    assert channel.since(1) == []


def test_ring_is_bounded() -> None:
    channel = started(0, ring_size=4)
    for seq in range(1, 11):
        assert seqs(channel.accept(frame(seq))) == [seq]
    assert len(channel.ring) == 4
    assert seqs(channel.since(6)) == [7, 8, 9, 10]  # exactly the ring's start
    assert seqs(channel.since(8)) == [9, 10]
    assert channel.since(5) is None  # 6 fell out of the ring
    assert channel.since(0) is None
    assert channel.since(10) == []


def test_a_burst_released_at_once_is_bounded_by_the_ring_too() -> None:
    channel = started(0, ring_size=3)
    for seq in range(8, 1, -1):
        assert channel.accept(frame(seq)) == []
    assert seqs(channel.accept(frame(1))) == list(range(1, 9))
    assert seqs(channel.since(5)) == [6, 7, 8]
    assert channel.since(4) is None


# ---- Channel: skip_hole


def test_skip_hole_jumps_to_the_newest_held_frame() -> None:
    channel = started(0)
    for seq in (1, 2, 3):
        channel.accept(frame(seq))
    channel.accept(frame(6))
    channel.accept(frame(9))
    assert channel.missing
    channel.skip_hole()
    assert not channel.missing
    assert channel.delivered == 9
    assert len(channel.ring) == 0
    # Memory no longer reaches back: every older resume needs the log.
    for after in (0, 3, 5, 6, 8):
        assert channel.since(after) is None, after
    assert channel.since(9) == []
    # Older frames arriving late are duplicates now; the next ones flow again.
    assert channel.accept(frame(4)) == []
    assert channel.refill([frame(5), frame(7), frame(8)]) == []
    assert seqs(channel.accept(frame(10))) == [10]
    assert seqs(channel.since(9)) == [10]
    assert channel.since(8) is None


def test_skip_hole_without_a_hole_does_nothing() -> None:
    channel = started(0)
    channel.accept(frame(1))
    channel.skip_hole()
    assert channel.delivered == 1
    assert seqs(channel.since(0)) == [1]


# ---- Admission


def test_admission_without_caps_admits_everyone() -> None:
    admission = Admission(per_address=0, per_user=0, max_joining=0)
    tickets = [admission.admit("10.0.0.1") for _ in range(1000)]
    assert all(isinstance(t, Ticket) for t in tickets)
    for ticket in tickets:
        assert isinstance(ticket, Ticket)
        assert admission.identify(ticket, 42) is None
    assert admission.sockets_from("10.0.0.1") == 1000
    assert admission.joining == 1000


def test_admission_per_address_cap_and_release() -> None:
    admission = Admission(per_address=2, per_user=0, max_joining=0)
    first, second = admission.admit("10.0.0.1"), admission.admit("10.0.0.1")
    assert isinstance(first, Ticket) and isinstance(second, Ticket)
    assert admission.admit("10.0.0.1") == "address_cap"
    assert isinstance(admission.admit("10.0.0.2"), Ticket)  # another address is fine
    assert admission.sockets_from("10.0.0.1") == 2
    admission.release(first)
    assert admission.sockets_from("10.0.0.1") == 1
    third = admission.admit("10.0.0.1")
    assert isinstance(third, Ticket)
    assert admission.admit("10.0.0.1") == "address_cap"
    for ticket in (second, third):
        admission.release(ticket)
    assert admission.sockets_from("10.0.0.1") == 0


def test_admission_per_user_cap_and_release() -> None:
    admission = Admission(per_address=0, per_user=1, max_joining=0)
    one, two, other = (admission.admit("a") for _ in range(3))
    assert isinstance(one, Ticket) and isinstance(two, Ticket) and isinstance(other, Ticket)
    assert admission.identify(one, 5) is None
    assert admission.identify(two, 5) == "user_cap"
    assert two.user_id is None  # refused: holds nothing for account 5
    assert admission.identify(other, 6) is None
    admission.release(two)  # the refused socket closes: account 5 still holds one
    fresh = admission.admit("a")
    assert isinstance(fresh, Ticket)
    assert admission.identify(fresh, 5) == "user_cap"
    admission.release(one)
    assert admission.identify(fresh, 5) is None


def test_admission_joins_in_flight_and_joined_decrements_once() -> None:
    admission = Admission(per_address=0, per_user=0, max_joining=2)
    a, b = admission.admit("x"), admission.admit("y")
    assert isinstance(a, Ticket) and isinstance(b, Ticket)
    assert admission.joining == 2
    assert admission.admit("z") == "overload"
    admission.joined(a)
    admission.joined(a)  # twice: counted once
    assert admission.joining == 1
    c = admission.admit("z")
    assert isinstance(c, Ticket)
    assert admission.admit("z") == "overload"
    admission.release(a)  # joined already: in flight does not drop again
    assert admission.joining == 2
    admission.release(b)  # closed while joining: frees its in-flight slot
    assert admission.joining == 1
    admission.release(c)
    assert admission.joining == 0


def test_admission_release_is_safe_once_per_ticket_and_refusals_hold_nothing() -> None:
    admission = Admission(per_address=1, per_user=1, max_joining=0)
    ticket = admission.admit("x")
    assert isinstance(ticket, Ticket)
    assert admission.identify(ticket, 1) is None
    assert admission.admit("x") == "address_cap"  # a refusal takes no slot
    admission.release(ticket)
    assert admission.sockets_from("x") == 0
    assert admission.joining == 0
    again = admission.admit("x")
    assert isinstance(again, Ticket)
    assert admission.identify(again, 1) is None


@pytest.mark.parametrize("cap", [1, 3])
def test_admission_address_cap_counts_open_sockets(cap: int) -> None:
    admission = Admission(per_address=cap, per_user=0, max_joining=0)
    held = [admission.admit("x") for _ in range(cap)]
    assert all(isinstance(t, Ticket) for t in held)
    assert admission.admit("x") == "address_cap"
    for ticket in held:
        assert isinstance(ticket, Ticket)
        admission.joined(ticket)  # joining or joined: both hold the address slot
    assert admission.admit("x") == "address_cap"


# ---- presence.tally


def test_tally_counts_anonymous_per_socket_accounts_once_and_leaves_staff_out() -> None:
    staff = {1, 2}
    here = tally([None, 5, None, 5, 6, 1, 2, 2, None, 6, 5], staff.__contains__)
    assert here == LocalPresence(anonymous=3, users=frozenset({5, 6}))
    assert here.count == 5
    assert not here.empty


def test_tally_of_staff_only_or_nobody_is_empty() -> None:
    assert tally([], lambda _uid: False).empty
    only_staff = tally([1, 1, 2], lambda _uid: True)
    assert only_staff.empty and only_staff.count == 0
    anonymous = tally([None, None], lambda _uid: True)  # staff check never applies to anonymous
    assert anonymous == LocalPresence(anonymous=2)
    assert anonymous.count == 2
