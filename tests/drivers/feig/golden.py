"""Golden FEIG ISC frames, typed from protocols.md §4 (never built with the code under test).

Sources named in protocols.md §4: FEIG's ID ISC.SDK.Linux V04.06.10 library captured on a
pty ("lib"), a public ISC.LR1002 trace ("LR1002"), and manual examples ("manual").
``independent_frame`` builds the few answers protocols.md has no capture for, with a
table-driven CRC written here independently of drivers.feig.codec.crc16.
"""

from __future__ import annotations


def h(text: str) -> bytes:
    return bytes.fromhex(text)


UID = "E004010046707A28"

# ---- requests (host -> reader), advanced frames, COM-ADR FF ------------------------------
REQ = {
    "baud_detect": h("02 00 08 FF 52 00 4A C3"),            # lib
    "baud_detect_std": h("06 FF 52 00 0F 6E"),               # lib
    "software_version": h("02 00 07 FF 65 6E 61"),           # lib
    "software_version_std": h("05 FF 65 E5 CB"),             # lib
    "reader_info_0": h("02 00 08 FF 66 00 88 12"),           # lib
    "reader_info_0_std": h("06 FF 66 00 CD BF"),             # lib
    "reader_info_80": h("02 00 08 FF 66 80 80 96"),          # lib
    "reader_info_ff": h("02 00 08 FF 66 FF F0 1D"),          # lib
    "rf_reset": h("02 00 07 FF 69 02 AB"),                   # lib
    "rf_off": h("02 00 08 FF 6A 00 28 BB"),                  # lib
    "rf_on": h("02 00 08 FF 6A 01 A1 AA"),                   # lib
    "cpu_reset": h("02 00 07 FF 63 58 04"),                  # lib
    "system_reset": h("02 00 08 FF 64 00 38 21"),            # lib
    "inventory": h("02 00 09 FF B0 01 00 18 43"),            # lib
    "inventory_std": h("07 FF B0 01 00 1C 56"),              # lib
    "read_2_blocks": h("02 00 13 FF B0 23 01 E0 04 01 00 46 70 7A 28 00 02 FD 1A"),     # lib
    "write_block_0": h("02 00 18 FF B0 24 01 E0 04 01 00 46 70 7A 28 00 01 04 04 03 02 01 11 B1"),  # lib
    "write_afi_07": h("02 00 12 FF B0 27 01 E0 04 01 00 46 70 7A 28 07 B8 78"),         # lib
    "lock_afi": h("02 00 11 FF B0 28 01 E0 04 01 00 46 70 7A 28 E7 C4"),                # lib
    "system_info": h("02 00 11 FF B0 2B 01 E0 04 01 00 46 70 7A 28 8E B0"),             # lib
    "set_eas": h("02 00 12 FF B1 04 A2 01 E0 04 01 00 46 70 7A 28 21 4E"),              # lib
    "reset_eas": h("02 00 12 FF B1 04 A3 01 E0 04 01 00 46 70 7A 28 06 62"),            # lib
    "lock_eas": h("02 00 12 FF B1 04 A4 01 E0 04 01 00 46 70 7A 28 F3 A6"),             # lib
    "eas_alarm": h("02 00 0A FF B1 04 A5 00 B6 64"),                                    # lib
    "green_1s": h("02 00 0F FF 71 00 01 00 00 00 0A 00 00 28 48"),                      # lib
    "all_0_5s": h("02 00 0F FF 71 00 15 00 00 00 05 00 00 50 D8"),                     # lib
    "get_input": h("02 00 07 FF 74 66 60"),                                             # lib
    "read_buffer_1": h("02 00 09 FF 22 00 01 88 77"),                                   # lib
    "buffer_info": h("02 00 07 FF 31 CF 75"),                                           # lib
    "clear_buffer": h("02 00 07 FF 32 54 47"),                                          # lib
    "init_buffer": h("02 00 07 FF 33 DD 56"),                                           # lib
    # protocols.md §4 gives no capture of these; the layout is the one it states ("follow
    # the same pattern": B0 SUBCMD MODE [UID] params; 0x2C params DB-ADR DB-N per the
    # ID ISC.MR/PR/PRH101 manual H60301 §6.1.13). The CRCs were computed once with
    # ``independent_crc`` below (table-driven, written here, not drivers.feig.codec) and
    # typed in; test_transcripts checks that helper against the library captures above.
    "write_dsfid_06": h("02 00 12 FF B0 29 01 E0 04 01 00 46 70 7A 28 06 EC 20"),       # indep. CRC
    "lock_dsfid": h("02 00 11 FF B0 2A 01 E0 04 01 00 46 70 7A 28 A9 9C"),              # indep. CRC
    "select": h("02 00 11 FF B0 25 01 E0 04 01 00 46 70 7A 28 75 31"),                  # indep. CRC
    "stay_quiet": h("02 00 11 FF B0 02 01 E0 04 01 00 46 70 7A 28 35 59"),              # indep. CRC
    "reset_to_ready": h("02 00 11 FF B0 26 01 E0 04 01 00 46 70 7A 28 1C 45"),          # indep. CRC
    "reset_to_ready_all": h("02 00 09 FF B0 26 00 23 2D"),                              # indep. CRC
    "block_security_0_4": h("02 00 13 FF B0 2C 01 E0 04 01 00 46 70 7A 28 00 04 BF F7"),  # indep. CRC
}

# ---- answers (reader -> host) ---------------------------------------------------------------
ANS = {
    "baud_detect": h("02 00 08 00 52 00 B9 05"),                                        # lib
    "no_tag": h("02 00 08 00 B0 01 19 CE"),                                             # lib
    "two_tags": h("02 00 1D 00 B0 00 02 03 00 E0 02 51 00 02 56 4A A4"
                  "03 00 E0 02 23 00 18 89 2B 09 E3 00"),                               # LR1002
    "read_2_blocks": h("02 00 14 00 B0 00 02 04 00 04 03 02 01 00 08 07 06 05 CA E0"),  # lib
    "block_locked": h("02 00 0A 00 B0 95 12 00 94 29"),                                 # LR1002/lib
    "ok_b0": h("02 00 08 00 B0 00 90 DF"),                                              # lib
    "system_info": h("02 00 15 00 B0 00 00 E0 04 01 00 46 70 7A 28 07 03 1B 01 F1 E7"),  # lib
    "eas_alarm": h("02 00 08 00 B1 00 48 C6"),                                          # lib
    "eas_silence": h("02 00 08 00 B1 01 C1 D7"),                                        # lib
    # No capture exists of these answers; layouts from protocols.md §4 / the MR101 manual
    # (0x2C: DB-N | SEC-STATUS x DB-N), CRCs from ``independent_crc`` as above.
    "block_security_0_4": h("02 00 0D 00 B0 00 04 01 01 00 00 FB 6D"),                 # indep. CRC
    "system_info_dsfid_06": h("02 00 15 00 B0 00 06 E0 04 01 00 46 70 7A 28 07 03 1B 01 1F FA"),  # indep. CRC
    "iso_error_locked": h("02 00 09 00 B0 95 12 64 CB"),                               # indep. CRC
}

# ---- an independent CRC, for answers protocols.md has no capture of -----------------------

def _table() -> list[int]:
    table = []
    for n in range(256):
        v = n
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return table


_T = _table()


def independent_crc(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _T[(crc ^ b) & 0xFF]
    return crc


def independent_frame(body_hex: str) -> bytes:
    """An advanced answer ``02 ALEN(2) 00 body CRC`` with body = ``CMD STATUS data``."""
    body = h(body_hex)
    length = len(body) + 6
    frame = bytes((0x02, length >> 8, length & 0xFF, 0x00)) + body
    crc = independent_crc(frame)
    return frame + bytes((crc & 0xFF, crc >> 8))


def independent_request(body_hex: str) -> bytes:
    """An advanced request ``02 ALEN(2) FF body CRC``."""
    body = h(body_hex)
    length = len(body) + 6
    frame = bytes((0x02, length >> 8, length & 0xFF, 0xFF)) + body
    crc = independent_crc(frame)
    return frame + bytes((crc & 0xFF, crc >> 8))
