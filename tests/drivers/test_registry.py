"""The reader registry: built-in names, typed errors, lazy imports, third-party entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from drivers import registry
from drivers.errors import DriverArgumentError, ReaderError
from drivers.feig.reader import FeigReader

ROOT = Path(__file__).resolve().parents[2]


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    """Make ``smartlib.readers`` list ``name=module:Class`` entry points (and nothing else)."""
    eps = [EntryPoint(name=n, value=v, group=registry.GROUP) for n, v in targets.items()]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr(registry, "entry_points", entry_points)


def test_builtin_names() -> None:
    assert registry.reader_class("feig") is FeigReader
    assert registry.reader_class("sim") is FeigReader  # the simulator speaks FEIG ISC
    assert {"feig", "llrp", "sim"} <= set(registry.available())
    from drivers.llrp.reader import LlrpReader

    assert registry.reader_class("llrp") is LlrpReader


def test_create_reader_is_unopened_with_options() -> None:
    r = registry.create_reader("sim", "socket://127.0.0.1:9", baudrate=115200, timeout_s=0.1)
    assert isinstance(r, FeigReader) and not r.is_open


def test_unknown_name_is_typed_and_names_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch)
    with pytest.raises(ReaderError) as exc:
        registry.reader_class("nope")
    assert not isinstance(exc.value, DriverArgumentError)
    assert "'nope'" in str(exc.value)
    assert {"feig", "llrp", "pcsc15693", "sim"} <= set(str(exc.value).split("known: ")[1].split(", "))
    with pytest.raises(ReaderError):
        registry.create_reader("nope", "/dev/null")


def test_bad_option_names_the_expected_ones() -> None:
    with pytest.raises(DriverArgumentError) as exc:
        registry.create_reader("feig", "/dev/null", baud=9600)
    assert "baudrate" in str(exc.value)


def test_import_is_lazy() -> None:
    # A fresh interpreter: importing the registry must not import any vendor module.
    code = textwrap.dedent("""
        import sys
        import drivers.registry as r
        before = "drivers.feig.reader" in sys.modules
        r.available()
        listed = "drivers.feig.reader" in sys.modules
        r.reader_class("feig")
        print(before, listed, "drivers.feig.reader" in sys.modules)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False", "True"]


VENDOR = '''
from drivers.feig.reader import FeigReader


class AcmeReader(FeigReader):
    """A third-party vendor's reader (here: FEIG-compatible)."""

    vendor = "ACME"

    def __init__(self, url, *, baudrate=9600, timeout_s=0.5):
        super().__init__(url, baudrate=baudrate, timeout_s=timeout_s)


NOT_A_READER = object
'''


@pytest.fixture
def vendor_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "smartlib_test_acme_vendor"
    (tmp_path / f"{name}.py").write_text(VENDOR, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_third_party_entry_point(monkeypatch: pytest.MonkeyPatch, vendor_module: str) -> None:
    _fake_entry_points(monkeypatch, acme=f"{vendor_module}:AcmeReader")
    assert "acme" in registry.available()
    assert vendor_module not in sys.modules  # listed, not imported
    cls = registry.reader_class("acme")
    assert vendor_module in sys.modules and cls.__name__ == "AcmeReader"
    r = registry.create_reader("acme", "socket://127.0.0.1:9", baudrate=19200)
    assert isinstance(r, cls) and r.vendor == "ACME"
    with pytest.raises(DriverArgumentError) as exc:  # options are the plug-in's own
        registry.create_reader("acme", "socket://127.0.0.1:9", com_address=3)
    assert "baudrate" in str(exc.value) and "timeout_s" in str(exc.value)


def test_plugins_cannot_shadow_builtins(monkeypatch: pytest.MonkeyPatch, vendor_module: str) -> None:
    _fake_entry_points(monkeypatch, feig=f"{vendor_module}:AcmeReader")
    assert registry.reader_class("feig") is FeigReader
    assert vendor_module not in sys.modules


def test_broken_plugin_breaks_only_itself(monkeypatch: pytest.MonkeyPatch, vendor_module: str) -> None:
    _fake_entry_points(monkeypatch, gone="smartlib_no_such_vendor_module:Reader",
                       typo=f"{vendor_module}:AcmeRaeder", odd=f"{vendor_module}:NOT_A_READER")
    with pytest.raises(ReaderError, match="'gone'.*cannot be loaded"):
        registry.reader_class("gone")
    with pytest.raises(ReaderError, match="'typo'.*cannot be loaded"):
        registry.reader_class("typo")
    with pytest.raises(ReaderError, match="'odd'.*is not a Reader"):
        registry.reader_class("odd")
    assert registry.reader_class("feig") is FeigReader
