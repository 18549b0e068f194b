#!/usr/bin/env bash
# Set-up shared by `make test` and `make demo`: Debian packages (as root), the venv, and
# `pip install -e .[dev]`. Idempotent: a re-run with nothing changed takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# build-essential (gcc), swig and libpcsclite-dev build pyscard, which pip compiles from source.
# postgresql: the ledger tests start their own server with its initdb/pg_ctl (on a free port,
# in a temp dir); they need no running cluster and never use the machine's one on 5432.
# systemd: systemd-analyze, systemctl --root and systemd-sysusers --root, with which the
# `smartlib install` tests verify and enable the units offline (a minimal root lacks them);
# cage and xwayland: the kiosk window's compositor, which a test runs headless; xvfb: a
# display for the kiosk window on a machine without one (`xvfb-run -a make demo`).
# The libxcb-*/libxkbcommon-x11/libegl/libgl libraries are what Qt's xcb platform plugin
# needs to open the kiosk window of `make demo` on a desktop (PySide6 wheels do not ship them).
DEB_PKGS=(mosquitto mosquitto-clients pcscd pcsc-tools vsmartcard-vpcd libpcsclite-dev swig socat
          postgresql build-essential chromium fonts-dejavu-core systemd
          cage xwayland xvfb xauth
          libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
          libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1)
PYTHON=${PYTHON:-python3}

# Until .venv exists, check the Python that will create it. Debian's own python3 (3.11 on
# bookworm) needs python3-venv for `python3 -m venv` and python3-dev for the C headers; a
# pyenv or other self-built Python carries both.
if [ ! -x .venv/bin/python ]; then
  py=$(command -v "$PYTHON" || true)
  if [ -z "$py" ] && [ "$PYTHON" = python3 ]; then
    DEB_PKGS+=(python3 python3-venv python3-dev)
    PYTHON=/usr/bin/python3
  else
    case "$(readlink -f "$py")" in
      /usr/bin/*) DEB_PKGS+=(python3-venv python3-dev) ;;
    esac
  fi
fi

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: install them as root with:" >&2
    echo "    sudo apt-get install -y ${missing[*]}" >&2
    echo "setup: FAILED (not root, cannot install system packages)" >&2
    exit 1
  fi
fi

stamp=.venv/.smartlib-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # A venv left half-made by an earlier failure (no pip, or its Python gone) is made again.
  if [ -e .venv ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    echo "setup: .venv is broken (no working pip): making it again"
    rm -rf .venv
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "setup: FAILED: $PYTHON is missing or older than Python 3.11 (set PYTHON=...)" >&2
      exit 1
    fi
    echo "setup: creating .venv with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    if ! "$PYTHON" -m venv .venv; then
      rm -rf .venv
      echo "setup: FAILED: '$PYTHON -m venv' did not work (Debian: apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  echo "setup: pip install -e .[dev]"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi
# Compiled translations are build products.
if [ -d kiosk_ui/i18n ] && ls kiosk_ui/i18n/*.ts >/dev/null 2>&1; then
  for ts in kiosk_ui/i18n/*.ts; do
    qm="${ts%.ts}.qm"
    if [ ! -f "$qm" ] || [ "$ts" -nt "$qm" ]; then
      .venv/bin/pyside6-lrelease -silent "$ts" -qm "$qm"
    fi
  done
fi
