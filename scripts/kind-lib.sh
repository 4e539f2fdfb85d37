#!/usr/bin/env bash
# Shared by scripts/kind-*.sh and scripts/install-platform.sh: pinned versions, names and small helpers.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../manifests/install/versions.env
source "$ROOT/manifests/install/versions.env"

CLUSTER_NAME="${CLUSTER_NAME:-credit-scoring}"
APP_NAMESPACE="${APP_NAMESPACE:-credit-scoring}"
DATA_NAMESPACE="${DATA_NAMESPACE:-credit-data}"
RELEASE="${RELEASE:-credit-scoring}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
IMAGES=(credit-scoring-predictor credit-scoring-transformer credit-scoring-jobs)
# Host ports kind-config.yaml maps (docs/deploy.md lists the same).
GATEWAY_URL="${GATEWAY_URL:-http://127.0.0.1:9080}"
GRAFANA_URL="http://127.0.0.1:3000"
PROMETHEUS_URL="http://127.0.0.1:9090"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (see docs/deploy.md, 'Deploy on kind')"
  done
}

# A random hex string for generated credentials (never written to disk outside the cluster).
random_hex() { openssl rand -hex "${1:-16}"; }

# Value of one key of a Secret, or nothing when the Secret does not exist.
secret_value() {
  local namespace="$1" name="$2" key="$3"
  kubectl -n "$namespace" get secret "$name" -o "jsonpath={.data.$key}" 2>/dev/null | base64 -d
}
