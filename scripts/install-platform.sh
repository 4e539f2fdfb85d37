#!/usr/bin/env bash
# Install what the chart runs on, at the versions pinned in manifests/install/versions.env:
# cert-manager, Gateway API CRDs, Envoy Gateway (+ the platform Gateway), kube-prometheus-stack
# with Grafana, and KServe (CRDs + controller, Standard mode, Gateway API ingress).
# Usage: scripts/install-platform.sh [--kind] [--knative]
#   --kind     expose the gateway, Grafana and Prometheus on the node ports kind-config.yaml maps
#   --knative  also install Knative Serving (needed only for ci/knative-values.yaml)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "$0")/kind-lib.sh"

KIND=false
KNATIVE=false
for arg in "$@"; do
  case "$arg" in
    --kind) KIND=true ;;
    --knative) KNATIVE=true ;;
    *) die "unknown argument: $arg" ;;
  esac
done
require kubectl helm openssl

log "cert-manager $CERT_MANAGER_VERSION"
helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io \
  --version "$CERT_MANAGER_VERSION" --namespace cert-manager --create-namespace \
  --set crds.enabled=true --wait --timeout 10m

log "Gateway API CRDs $GATEWAY_API_VERSION (standard channel + its safe-upgrades admission policy)"
kubectl apply --server-side --force-conflicts \
  -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/standard-install.yaml"

# One owner per CRD: the Gateway API CRDs are the standard channel applied above. Envoy Gateway's
# own CRDs come from its gateway-crds-helm chart; gateway-helm is installed without its bundled
# CRDs (the experimental Gateway API channel, which the safe-upgrades policy refuses on top of the
# standard one) and without its copy of that policy.
log "Envoy Gateway $ENVOY_GATEWAY_VERSION"
helm template eg-crds oci://docker.io/envoyproxy/gateway-crds-helm --version "$ENVOY_GATEWAY_VERSION" \
  --set crds.gatewayAPI.enabled=false --set crds.envoyGateway.enabled=true \
  | kubectl apply --server-side --force-conflicts -f -
# Its values configure the rate-limit service (per-client limits, counted in the platform's Redis);
# that service starts once the Secret envoy-gateway-system/credit-ratelimit-redis exists.
helm upgrade --install eg oci://docker.io/envoyproxy/gateway-helm --version "$ENVOY_GATEWAY_VERSION" \
  --namespace envoy-gateway-system --create-namespace --skip-crds \
  --values "$ROOT/manifests/install/envoy-gateway-values.yaml" \
  --set crds.gatewayAPI.safeUpgradePolicy.enabled=false --wait --timeout 10m
kubectl -n envoy-gateway-system wait --for=condition=Available deployment/envoy-gateway --timeout=5m
if [ "$KIND" = true ] && ! kubectl -n envoy-gateway-system get secret credit-gateway-tls >/dev/null 2>&1; then
  # The https listener's certificate: self-signed on kind; bring your own elsewhere (docs/deploy.md).
  tls="$(mktemp -d)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=credit.local" \
    -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null
  kubectl -n envoy-gateway-system create secret tls credit-gateway-tls --cert "$tls/tls.crt" --key "$tls/tls.key"
  rm -rf "$tls"
fi
kubectl apply -f "$ROOT/manifests/install/gateway.yaml"
if [ "$KIND" = true ]; then
  kubectl apply -f "$ROOT/manifests/install/kind-gateway-nodeport.yaml"
  kubectl -n envoy-gateway-system patch gateway credit-gateway --type merge -p \
    '{"spec":{"infrastructure":{"parametersRef":{"group":"gateway.envoyproxy.io","kind":"EnvoyProxy","name":"kind-nodeport"}}}}'
fi
kubectl -n envoy-gateway-system wait --for=condition=Programmed gateway/credit-gateway --timeout=5m
if ! kubectl -n envoy-gateway-system get secret credit-gateway-tls >/dev/null 2>&1; then
  log "note: Secret envoy-gateway-system/credit-gateway-tls is missing: the gateway's https listener stays down until you create it"
fi

log "kube-prometheus-stack $KUBE_PROMETHEUS_STACK_VERSION (Prometheus, Alertmanager, Grafana)"
prometheus_args=(--values "$ROOT/manifests/install/kube-prometheus-stack-values.yaml")
if [ "$KIND" = false ]; then
  # Node ports are a kind convenience; on a real cluster reach Grafana through your ingress.
  prometheus_args+=(--set prometheus.service.type=ClusterIP --set grafana.service.type=ClusterIP)
fi
helm upgrade --install kube-prometheus-stack kube-prometheus-stack \
  --repo https://prometheus-community.github.io/helm-charts --version "$KUBE_PROMETHEUS_STACK_VERSION" \
  --namespace monitoring --create-namespace "${prometheus_args[@]}" --wait --timeout 15m

if [ "$KNATIVE" = true ]; then
  log "Knative operator $KNATIVE_OPERATOR_VERSION (Serving with Kourier)"
  helm upgrade --install knative-operator knative-operator \
    --repo https://knative.github.io/operator --version "$KNATIVE_OPERATOR_VERSION" \
    --namespace knative-operator --create-namespace --wait --timeout 10m
  kubectl apply -f "$ROOT/manifests/install/knative-serving.yaml"
  kubectl -n knative-serving wait --for=condition=Ready knativeserving/knative-serving --timeout=10m
fi

log "KServe $KSERVE_VERSION"
helm upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd --version "$KSERVE_VERSION" \
  --namespace kserve --create-namespace --wait --timeout 10m
helm upgrade --install kserve oci://ghcr.io/kserve/charts/kserve-resources --version "$KSERVE_VERSION" \
  --namespace kserve --values "$ROOT/manifests/install/kserve-values.yaml" --wait --timeout 10m
kubectl -n kserve wait --for=condition=Available deployment/kserve-controller-manager --timeout=5m

log "platform ready"
