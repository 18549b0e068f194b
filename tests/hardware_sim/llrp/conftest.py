"""Fixtures of the LLRP simulator tests: a started device on a free port and a raw client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from drivers.llrp import messages as m
from drivers.llrp.codec import FrameDecoder, encode_message
from hardware_sim.llrp_device import DEFAULT_ZONES, LlrpReaderDevice
from hardware_sim.llrp_tag import UhfField


class RawClient:
    """Sends our messages and collects whatever the simulator sends back."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.decoder = FrameDecoder()
        self.inbox: list[m.Message] = []
        self.next_id = 100

    def send(self, msg: m.Message) -> int:
        self.next_id += 1
        self.sock.sendall(encode_message(replace(msg, msg_id=self.next_id)))
        return self.next_id

    def wait(self, cls: type[m.Message], msg_id: int | None = None) -> m.Message:
        """The first message of ``cls`` (with ``msg_id``) received; earlier ones stay queued."""
        while True:
            for i, msg in enumerate(self.inbox):
                if isinstance(msg, cls) and (msg_id is None or msg.msg_id == msg_id):
                    return self.inbox.pop(i)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the simulator closed the connection")
            self.inbox += self.decoder.feed(data)

    def call(self, msg: m.Message) -> m.Message:
        return self.wait(m.RESPONSE_TO.get(type(msg), m.ErrorMessage), self.send(msg))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def uhf_field() -> UhfField:
    return UhfField(DEFAULT_ZONES)


@pytest.fixture
def llrp_device(uhf_field: UhfField) -> Iterator[LlrpReaderDevice]:
    device = LlrpReaderDevice(uhf_field, timing=False).start(port=0)
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def client(llrp_device: LlrpReaderDevice) -> Iterator[RawClient]:
    assert llrp_device.tcp_port is not None
    c = RawClient(llrp_device.tcp_port)
    try:
        yield c
    finally:
        c.close()
