#!/usr/bin/env bash
# Check that PYTHON (default python3) is 3.11+ and can create virtual environments; on Debian and
# Ubuntu the venv module ships separately (python3-venv): install it when we are root or have
# passwordless sudo, otherwise say exactly what to run.
set -euo pipefail
PY="${1:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "$PY not found: install Python 3.11 or newer (Debian 12: apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "$("$PY" --version 2>&1) is too old: Python 3.11 or newer is needed (make PYTHON=python3.11 ...)" >&2
  exit 1
fi
if "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  exit 0
fi
pkg="python3-venv"
minor="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "$PY cannot create virtual environments: run sudo apt-get install -y $pkg (or python$minor-venv)" >&2
  exit 1
fi
echo "Installing $pkg"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
  || "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "python$minor-venv" >/dev/null
