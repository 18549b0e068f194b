"""A scripted PC/SC link: the driver's APDUs are checked against hand-written bytes."""

from __future__ import annotations

from drivers.errors import TagNotFound


def hexb(text: str) -> bytes:
    return bytes.fromhex(text)


class ScriptedLink:
    """Answers each expected command APDU with its scripted response, in order.

    A response of ``None`` means "no card" (the link raises TagNotFound).
    """

    reader_name = "Scripted PCD 00 00"

    def __init__(self, script: list[tuple[str, str | None]]) -> None:
        self.script = [(hexb(c), None if r is None else hexb(r)) for c, r in script]
        self.sent: list[bytes] = []
        self.resets = 0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def reset_field(self) -> None:
        self.resets += 1

    def transmit(self, apdu: bytes) -> bytes:
        n = len(self.sent)
        self.sent.append(bytes(apdu))
        assert n < len(self.script), f"unexpected extra APDU {apdu.hex(' ').upper()}"
        want, resp = self.script[n]
        assert apdu == want, (f"APDU {n}: sent {apdu.hex(' ').upper()}, "
                              f"expected {want.hex(' ').upper()}")
        if resp is None:
            raise TagNotFound("no tag on the scripted reader", 0x01)
        return resp

    @property
    def done(self) -> bool:
        return len(self.sent) == len(self.script)
