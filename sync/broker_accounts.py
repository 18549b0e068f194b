"""Add and remove one device in a running broker's password and ACL files, then reload it.

The central console calls these when it enrols a box (its ACL block, the same lines
``smartlib broker config`` writes: :func:`sync.broker.device_acl`) and when it revokes one
(its ACL block and its password line go). Each file is rewritten atomically: a temporary
file in the same directory, with the original's mode and owner (group at least), then a
rename, so Mosquitto never reads half a file. Mosquitto reads both files again, and its
certificate revocation list, on SIGHUP (``kill -HUP``, ``systemctl reload mosquitto``);
it then drops connected clients that the new files refuse.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from pathlib import Path

from sync.broker import device_acl
from sync.errors import BrokerAccountsError

log = logging.getLogger(__name__)


def _rewrite(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping its mode, owner and group."""
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise BrokerAccountsError(f"cannot read {path}: {exc.strerror}") from exc
    mode = st.st_mode & 0o7777 if st else 0o600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except PermissionError:
                    # not root: keep at least the group, through which the broker reads it
                    os.chown(tmp, -1, st.st_gid)
            tmp.chmod(mode)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise BrokerAccountsError(
            f"cannot rewrite {path} (its directory must be writable, and its group one of "
            f"this user's): {exc.strerror or exc}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise BrokerAccountsError(f"cannot read {path}: {exc.strerror}") from exc


def without_acl_block(text: str, user: str) -> str:
    """``text`` (an ACL file) without the block of ``user``: its ``user`` line and every
    line up to the next ``user`` line (or the end)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        words = line.split()
        if words[:1] == ["user"]:
            skipping = words[1:] == [user]
        if not skipping:
            out.append(line)
    return "".join(out)


def without_password(text: str, user: str) -> str:
    """``text`` (a password file) without the line of ``user``."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.split(":", 1)[0] != user)


def add_device(acl_file: Path, site: str, device: str, role: str) -> None:
    """Give ``device`` its ACL block (replacing any it had). An enrolled box logs in with
    its client certificate (its common name is the user), so no password line is added.

    Raises:
        BrokerAccountsError: a file cannot be read or rewritten.
    """
    text = without_acl_block(_read(acl_file), device).rstrip("\n")
    block = device_acl(site, device, role=role)
    _rewrite(acl_file, (text + "\n\n" if text else "") + block)
    log.info("broker ACL: added %s/%s (%s) to %s", site, device, role, acl_file)


def remove_device(acl_file: Path | None, device: str, password_file: Path | None = None) -> bool:
    """Take ``device``'s ACL block and password line out. Returns whether either was there.

    Raises:
        BrokerAccountsError: a file cannot be read or rewritten.
    """
    found = False
    if acl_file is not None:
        acl = _read(acl_file)
        trimmed = without_acl_block(acl, device)
        if trimmed != acl:
            _rewrite(acl_file, trimmed)
            found = True
    if password_file is not None:
        pw = _read(password_file)
        kept = without_password(pw, device)
        if kept != pw:
            _rewrite(password_file, kept)
            found = True
    log.info("broker accounts: %s %s", device, "removed" if found else "had no lines")
    return found


def reload_broker(*, pid_file: Path | None = None, command: str | None = None) -> str:
    """Make Mosquitto read its files again: SIGHUP to the pid in ``pid_file``, else run
    ``command`` (e.g. ``systemctl reload mosquitto``). Returns what was done.

    Raises:
        BrokerAccountsError: neither is set, the pid file is unreadable or stale, or the
            command failed.
    """
    if pid_file is not None:
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            raise BrokerAccountsError(f"cannot signal the broker from {pid_file}: {exc}") from exc
        return f"sent SIGHUP to the broker (pid {pid})"
    if command:
        try:
            done = subprocess.run(shlex.split(command), check=False, capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrokerAccountsError(f"cannot run {command!r}: {exc}") from exc
        if done.returncode != 0:
            raise BrokerAccountsError(f"{command!r} failed ({done.returncode}): "
                                      f"{done.stderr.strip()[-300:]}")
        return f"ran {command!r}"
    raise BrokerAccountsError("no way to reload the broker: set [enroll] broker_pid_file or "
                              "broker_reload_command")
