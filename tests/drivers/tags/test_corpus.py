"""Every public tag dump in ``corpus/manifest.json`` decodes as its source says it should.

The manifest records each dump's provenance (repository, file, commit, licence note) and
an expected decode written from the source's own stated meaning, or decoded by hand per
ISO/IEC 15962 where the source states none -- never produced by running this decoder.
Each dump is decoded whole, with its 4-byte blocks reversed (``reversed_blocks=True``),
and cut at every block boundary (a partial read: a typed error or the same item, never
something else).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import TagFormatError
from drivers.tags import decode_tag, reverse_blocks

MANIFEST = json.loads((Path(__file__).parent / "corpus" / "manifest.json").read_text("utf-8"))
ENTRIES: list[dict[str, Any]] = MANIFEST["entries"]
IDS = [e["id"] for e in ENTRIES]


def test_manifest_records_provenance() -> None:
    assert len(ENTRIES) >= 20 and len(set(IDS)) == len(IDS)
    for e in ENTRIES:
        src = e["source"]
        assert src["repository"] and src["url"].startswith("https://github.com/")
        assert src["file"] and len(src["commit"]) == 40 and src["where"]
        assert e["licence"] and e["what"] and e["constructs"] and e["stated_meaning"]
        assert ("expect" in e) != ("expect_error" in e), e["id"]


def _decode(e: dict[str, Any], mem: bytes, **kw: Any) -> dict[str, Any]:
    return decode_tag(mem, dsfid=e["dsfid"], **kw).to_json_dict()


def _check(e: dict[str, Any], out: dict[str, Any]) -> None:
    for key, want in e["expect"].items():
        if key != "reversed_blocks":
            assert out[key] == want, (e["id"], key, out[key])
    fields = e.get("expect_warning_fields", [])
    assert [p for p in out["problems"] if not any(f"field {f}," in p for f in fields)] == []
    assert len(out["problems"]) == len(fields), out["problems"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_corpus_entry_decodes_as_stated(entry: dict[str, Any]) -> None:
    mem = bytes.fromhex(entry["hex"])
    if "expect_error" in entry:
        with pytest.raises(TagFormatError) as exc:
            decode_tag(mem, dsfid=entry["dsfid"])
        want = entry["expect_error"]
        assert (exc.value.field, exc.value.offset) == (want["field"], want["offset"])
        assert decode_tag(mem, dsfid=entry["dsfid"], lenient=True).problems
        return
    out = _decode(entry, mem)
    _check(entry, out)
    assert out["reversed_blocks"] is False
    # the same memory as a reader that reverses each 4-byte block returns it
    if len(mem) % 4 == 0:
        rev = _decode(entry, reverse_blocks(mem), reversed_blocks=True)
        _check(entry, rev)
        assert rev["reversed_blocks"] is True


@pytest.mark.parametrize("entry", [e for e in ENTRIES if "expect" in e],
                         ids=[e["id"] for e in ENTRIES if "expect" in e])
def test_corpus_entry_read_in_parts(entry: dict[str, Any]) -> None:
    """A partial read (the first n blocks) is a typed error or the same item, never another.

    ISO 28560-2 from the first block on; the fixed 32-byte formats from 8 blocks on, as the
    kiosk and gate read them (shorter ISO 28560-3 prefixes such as ``11 01 01 00`` are
    also a valid ISO 28560-2 item "1": the bytes cannot tell).
    """
    mem = bytes.fromhex(entry["hex"])
    whole = _decode(entry, mem)
    first = 4 if whole["format"] == "iso28560-2" else 32
    for cut in range(first, len(mem), 4):
        try:
            part = _decode(entry, mem[:cut])
        except TagFormatError:
            continue
        assert (part["format"], part["primary_item_id"]) == (whole["format"],
                                                             whole["primary_item_id"]), cut
        assert part["reversed_blocks"] is False
