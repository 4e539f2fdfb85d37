#!/usr/bin/env bash
# Create the kind cluster (kind-config.yaml) and install the platform into it.
# Needs: docker, kind, kubectl, helm (docs/deploy.md lists the versions).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "$0")/kind-lib.sh"
require docker kind kubectl helm openssl

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  log "kind cluster $CLUSTER_NAME exists"
else
  log "creating kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
  kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
    --config "$ROOT/kind-config.yaml" --wait 5m
fi
kubectl config use-context "kind-$CLUSTER_NAME"
"$ROOT/scripts/install-platform.sh" --kind "$@"
log "cluster ready: gateway $GATEWAY_URL, Grafana $GRAFANA_URL, Prometheus $PROMETHEUS_URL"
