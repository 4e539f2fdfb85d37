#!/usr/bin/env bash
# Build the three images, load them into kind, create the credentials (random, generated here,
# kept only in the cluster's Secrets), deploy the supporting stack (kustomize overlay "kind")
# and install the chart with ci/kind-values.yaml.
# Usage: scripts/kind-deploy.sh [extra helm flags...]   (SKIP_BUILD=1 to reuse loaded images)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "$0")/kind-lib.sh"
require docker kind kubectl helm openssl
kubectl config use-context "kind-$CLUSTER_NAME" >/dev/null

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  for image in "${IMAGES[@]}"; do
    component="${image#credit-scoring-}"
    log "building $image:$IMAGE_TAG"
    docker build --file "$ROOT/docker/$component.Dockerfile" --tag "$image:$IMAGE_TAG" "$ROOT"
    kind load docker-image --name "$CLUSTER_NAME" "$image:$IMAGE_TAG"
  done
fi

log "namespaces"
for namespace in "$DATA_NAMESPACE" "$APP_NAMESPACE"; do
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
done

# Create a Secret once; later runs keep the generated values (the databases were initialised with them).
ensure_secret() {
  local namespace="$1" name="$2"
  shift 2
  if kubectl -n "$namespace" get secret "$name" >/dev/null 2>&1; then
    return 0
  fi
  local args=()
  local pair
  for pair in "$@"; do args+=(--from-literal="$pair"); done
  kubectl -n "$namespace" create secret generic "$name" "${args[@]}"
}

log "credentials of the supporting stack"
ensure_secret "$DATA_NAMESPACE" credit-postgres \
  "POSTGRES_PASSWORD=$(random_hex)" "MLFLOW_DB_PASSWORD=$(random_hex)" \
  "FEAST_DB_PASSWORD=$(random_hex)" "INFERENCE_LOG_DB_PASSWORD=$(random_hex)"
ensure_secret "$DATA_NAMESPACE" credit-minio \
  "MINIO_ROOT_USER=root-$(random_hex 4)" "MINIO_ROOT_PASSWORD=$(random_hex)" \
  "APP_ACCESS_KEY=credit-$(random_hex 4)" "APP_SECRET_KEY=$(random_hex)"
ensure_secret "$DATA_NAMESPACE" credit-redis "REDIS_PASSWORD=$(random_hex)"
# Envoy Gateway's rate-limit service counts per-client limits in the same Redis
# (manifests/install/envoy-gateway-values.yaml); its pod starts once this copy exists.
ensure_secret envoy-gateway-system credit-ratelimit-redis \
  "REDIS_AUTH=$(secret_value "$DATA_NAMESPACE" credit-redis REDIS_PASSWORD)"

log "supporting stack (manifests/overlays/kind)"
kubectl apply -k "$ROOT/manifests/overlays/kind"
kubectl -n "$DATA_NAMESPACE" rollout status statefulset/postgresql --timeout=5m
kubectl -n "$DATA_NAMESPACE" rollout status statefulset/minio --timeout=5m
kubectl -n "$DATA_NAMESPACE" rollout status statefulset/redis --timeout=5m
kubectl -n "$DATA_NAMESPACE" wait --for=condition=Complete job/minio-setup --timeout=5m
kubectl -n "$DATA_NAMESPACE" rollout status deployment/mlflow --timeout=10m
kubectl -n "$DATA_NAMESPACE" rollout status deployment/pushgateway --timeout=5m

log "credentials of the platform (secrets.* in the chart values)"
stores="$DATA_NAMESPACE.svc.cluster.local"
ensure_secret "$APP_NAMESPACE" credit-scoring-s3 \
  "AWS_ACCESS_KEY_ID=$(secret_value "$DATA_NAMESPACE" credit-minio APP_ACCESS_KEY)" \
  "AWS_SECRET_ACCESS_KEY=$(secret_value "$DATA_NAMESPACE" credit-minio APP_SECRET_KEY)"
# KServe's storage initializer reads these annotations to reach MinIO instead of AWS.
kubectl -n "$APP_NAMESPACE" annotate --overwrite secret credit-scoring-s3 \
  "serving.kserve.io/s3-endpoint=minio.$stores:9000" serving.kserve.io/s3-usehttps=0 \
  serving.kserve.io/s3-verifyssl=0 serving.kserve.io/s3-region=us-east-1
ensure_secret "$APP_NAMESPACE" credit-scoring-app \
  "CREDIT_INFERENCE_LOG_URL=postgresql+psycopg://inference_log:$(secret_value "$DATA_NAMESPACE" credit-postgres INFERENCE_LOG_DB_PASSWORD)@postgresql.$stores:5432/inference_log" \
  "CREDIT_INFERENCE_LOG_HASH_KEY=$(random_hex 32)" \
  "CREDIT_FEAST_REGISTRY_PASSWORD=$(secret_value "$DATA_NAMESPACE" credit-postgres FEAST_DB_PASSWORD)" \
  "CREDIT_REDIS_PASSWORD=$(secret_value "$DATA_NAMESPACE" credit-redis REDIS_PASSWORD)"
# The gateway's API key of client e2e, generated once and never overwritten (like the local
# stack's $CREDIT_HOME/api-key): authentication is on in the kind flow as in production.
api_key_state="kept from the last deploy"
if ! kubectl -n "$APP_NAMESPACE" get secret credit-scoring-api-keys >/dev/null 2>&1; then
  api_key_state="created"
fi
ensure_secret "$APP_NAMESPACE" credit-scoring-api-keys "e2e=$(random_hex)"
# The transformer's copy: the SHA-256 of each key (client:hash lines), never the key itself.
api_key_hash="$(secret_value "$APP_NAMESPACE" credit-scoring-api-keys e2e | tr -d '\n' | sha256sum | cut -d' ' -f1)"
ensure_secret "$APP_NAMESPACE" credit-scoring-api-key-hashes "e2e=e2e:$api_key_hash"

# No --wait: with Helm 4 it waits (kstatus) for every object of the release to be ready, the
# InferenceService included, whose Ready condition stays false until a champion model exists;
# the model is trained next (make kind-e2e). Helm still waits for the post-install hook (Feast
# features apply) to complete; the parts that can be ready without a model are awaited here.
log "chart (ci/kind-values.yaml)"
helm upgrade --install "$RELEASE" "$ROOT/charts/credit-scoring" --namespace "$APP_NAMESPACE" \
  --values "$ROOT/charts/credit-scoring/ci/kind-values.yaml" --timeout 15m "$@"
kubectl -n "$APP_NAMESPACE" wait --for=condition=TransformerReady "inferenceservice/$RELEASE" --timeout=10m
log "deployed (the predictor is ready once a model is trained): kubectl -n $APP_NAMESPACE get inferenceservice,pods"
log "API key of client e2e $api_key_state in Secret $APP_NAMESPACE/credit-scoring-api-keys (the gateway checks it, the transformer has its hash only); use it:"
# Single quotes: the commands are printed for the user to run, not expanded here.
# shellcheck disable=SC2016
printf '  KEY="$(kubectl -n %s get secret credit-scoring-api-keys -o jsonpath={.data.e2e} | base64 -d)"\n' "$APP_NAMESPACE" >&2
# shellcheck disable=SC2016
printf '  curl -sS -H "x-api-key: $KEY" http://127.0.0.1:9080/monitoring\n' >&2
