#!/usr/bin/env bash
# Delete the kind cluster and everything in it (the generated credentials included).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "$0")/kind-lib.sh"
require kind
kind delete cluster --name "$CLUSTER_NAME"
