"""The field calls its listeners (the readers) outside its own lock.

A reader thread answers a request under the reader's lock and asks the field (``find``,
``in_zones``) from there, while the control API's thread places or removes a tag and the
field calls the reader's listener, which takes the reader's lock. With the listener called
under the field's lock the two wait for each other for ever: seen in ``smartlib soak`` (the
simulator's control API hung on ``DELETE /tags/{item}`` while the pad readers were polled).
"""

from __future__ import annotations

import threading

from hardware_sim.field import FieldEvent, SimField
from hardware_sim.tag import SimTag

UID = bytes.fromhex("E004010000000001")


def _blocked_listener_lets_the_field_answer(move: str) -> bool:
    field = SimField(zones=("pad", "shelf"))
    tag = SimTag(uid=UID, afi=0x07, memory=bytearray(28 * 4))
    field.place(tag, "pad")
    reader_lock = threading.Lock()  # the reader's own lock
    in_listener = threading.Event()

    def listener(_ev: FieldEvent, _tag: SimTag) -> None:
        in_listener.set()
        with reader_lock:
            pass

    field.add_listener(listener)
    answered = threading.Event()
    with reader_lock:  # the reader is answering a request
        mover = threading.Thread(
            target=field.remove if move == "remove" else field.place,
            args=(tag.uid,) if move == "remove" else (tag, "shelf"), daemon=True)
        mover.start()
        assert in_listener.wait(5)  # the mover is in the listener, waiting for the reader

        def ask() -> None:  # … and the reader asks the field
            field.find(UID, ["pad", "shelf"])
            field.in_zones(["pad"])
            answered.set()

        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        ok = answered.wait(5)
    mover.join(5)
    asker.join(5)
    return ok


def test_a_reader_holding_its_lock_can_ask_the_field_while_a_tag_leaves() -> None:
    assert _blocked_listener_lets_the_field_answer("remove")


def test_a_reader_holding_its_lock_can_ask_the_field_while_a_tag_moves() -> None:
    assert _blocked_listener_lets_the_field_answer("place")


def test_clear_still_reports_every_tag_it_took_out() -> None:
    field = SimField(zones=("pad", "shelf"))
    events: list[str] = []
    field.add_listener(lambda ev, _t: events.append(f"{ev.kind}:{ev.zone}"))
    for n in range(3):
        field.place(SimTag(uid=bytes([0xE0, 4, 1, 0, 0, 0, 0, n]), memory=bytearray(28 * 4)), "pad")
    field.place(SimTag(uid=bytes([0xE0, 4, 1, 0, 0, 0, 1, 0]), memory=bytearray(28 * 4)), "shelf")
    assert field.clear("pad") == 3
    assert events.count("leave:pad") == 3 and field.in_zones(["shelf"])
