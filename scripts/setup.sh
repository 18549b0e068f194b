#!/usr/bin/env bash
# Set-up shared by `make test` and `make demo`: Debian packages (as root), the venv, and
# `pip install -e .[dev]`. Idempotent: a re-run with nothing changed takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(mosquitto mosquitto-clients pcscd pcsc-tools vsmartcard-vpcd libpcsclite-dev swig socat chromium fonts-dejavu-core)
PYTHON=${PYTHON:-python3}

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

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.smartlib-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
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
