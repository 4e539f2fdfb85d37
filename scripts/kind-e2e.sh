#!/usr/bin/env bash
# End to end on the kind cluster (after kind-up and kind-deploy):
#   1. train a model (Job from the train CronJob) -> registered as champion
#   2. score through the gateway: /predict, /predict/batch, an invalid request (400), /monitoring
#   3. run the drift job and find its metrics in Prometheus
#   4. train a challenger, split 50% of applicants to it (the transformer's router, ci/split-values.yaml),
#      see both roles and versions answer and the same applicant stay on the same side
#   5. promote: move the champion alias, end the split, see only the new version
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "$0")/kind-lib.sh"
require kubectl helm curl python3
kubectl config use-context "kind-$CLUSTER_NAME" >/dev/null
# Applications of the packaged dataset (stable applicant ids), a batch, and an invalid one.
APPLICATION='{"instances": [{"applicant_id": "A0003C1BD19A3", "amount": 1050.0, "price": 1317.0, "term": 48}]}'
BATCH='{"instances": [
  {"applicant_id": "A0003C1BD19A3", "amount": 1050.0, "price": 1317.0, "term": 48},
  {"applicant_id": "A0006AF3C39E6", "amount": 1300.0, "price": 1795.0, "term": 60},
  {"applicant_id": "unknown-applicant", "amount": 700.0, "price": 1172.0, "term": 48}]}'
INVALID='{"instances": [{"applicant_id": "A0003C1BD19A3", "amount": -5, "price": 1317.0, "term": 480}]}'
ns=(--namespace "$APP_NAMESPACE")
# The transformer checks API keys (its Secret holds their hashes; kind-deploy made both).
API_KEY="$(secret_value "$APP_NAMESPACE" credit-scoring-api-keys e2e)"

run_job() {  # run_job <cronjob suffix> <timeout>
  local job
  job="$1-$(date +%s)"
  log "job $job"
  kubectl "${ns[@]}" create job "$job" --from="cronjob/$RELEASE-$1"
  if ! kubectl "${ns[@]}" wait --for=condition=Complete "job/$job" --timeout="$2"; then
    kubectl "${ns[@]}" logs "job/$job" --tail=100 || true
    die "job $job did not complete"
  fi
  kubectl "${ns[@]}" logs "job/$job" --tail=20
}

mlflow_python() {  # runs Python with an MLflow client next to the tracking server
  kubectl -n "$DATA_NAMESPACE" exec deploy/mlflow -- python -c "$1"
}

score() {  # score <path> <json> -> prints the HTTP status, body in $WORK/body.json
  curl -sS -o "$WORK/body.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "x-api-key: $API_KEY" --data "$2" "$GATEWAY_URL$1"
}

versions_seen() {  # versions_seen <requests> -> sorted unique model versions in the answers
  local i
  for i in $(seq "$1"); do
    [ "$(score /predict "$APPLICATION")" = 200 ] || die "request $i failed: $(cat "$WORK/body.json")"
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["predictions"][0]["model"]["version"])' \
      "$WORK/body.json"
  done | sort -u | paste -sd, -
}

roles_seen() {  # roles_seen -> sorted unique role:version of 40 distinct applicants' answers
  local instances
  instances="$(python3 -c 'import json; print(json.dumps({"instances": [
    {"applicant_id": f"e2e-split-{i}", "amount": 1050.0, "price": 1317.0, "term": 48} for i in range(40)]}))')"
  [ "$(score /predict/batch "$instances")" = 200 ] || die "batch failed: $(cat "$WORK/body.json")"
  python3 -c 'import json,sys
for a in json.load(open(sys.argv[1]))["predictions"]:
    print(a["model"]["role"] + ":" + str(a["model"]["version"]))' "$WORK/body.json" | sort -u | paste -sd, -
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 1. -------------------------------------------------------------------------------------------
run_job train 30m
log "waiting for the InferenceService (the predictor loads the new champion by itself)"
kubectl "${ns[@]}" wait --for=condition=Ready "inferenceservice/$RELEASE" --timeout=10m

# 2. -------------------------------------------------------------------------------------------
log "scoring through the gateway at $GATEWAY_URL"
status="$(score /predict "$APPLICATION")"
[ "$status" = 200 ] || die "/predict answered $status: $(cat "$WORK/body.json")"
python3 - "$WORK/body.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))["predictions"][0]
assert answer["decision"] in ("approve", "refer", "decline"), answer
assert 0.0 <= answer["pd"] <= 1.0, answer
print("decision", answer["decision"], "score", answer["score"], "model", answer["model"])
PY
status="$(score /predict/batch "$BATCH")"
[ "$status" = 200 ] || die "/predict/batch answered $status: $(cat "$WORK/body.json")"
status="$(score /predict "$INVALID")"
[ "$status" = 400 ] || die "an invalid application got $status instead of 400"
status="$(curl -sS -o "$WORK/body.json" -w '%{http_code}' -H "x-api-key: $API_KEY" "$GATEWAY_URL/monitoring")"
[ "$status" = 200 ] || die "/monitoring answered $status"
# Authentication is on at the gateway (ci/kind-values.yaml): no key or a wrong one is refused there.
for key in "" "not-a-key"; do
  status="$(curl -sS -o "$WORK/body.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "x-api-key: $key" --data "$APPLICATION" "$GATEWAY_URL/predict")"
  [ "$status" = 401 ] || die "/predict with key '$key' answered $status instead of 401"
done

# 3. -------------------------------------------------------------------------------------------
run_job drift 15m
log "drift metrics in Prometheus ($PROMETHEUS_URL)"
for _ in $(seq 30); do
  found="$(curl -sS "$PROMETHEUS_URL/api/v1/query" --data-urlencode 'query=credit_drift_last_success_timestamp_seconds' \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))')"
  [ "$found" -gt 0 ] && break
  sleep 10
done
[ "${found:-0}" -gt 0 ] || die "Prometheus has no credit_drift_last_success_timestamp_seconds"

# 4. -------------------------------------------------------------------------------------------
run_job train 30m  # a second version: alias challenger (champion stays)
log "split: the router sends a sticky 50% of applicants to the challenger predictor"
helm upgrade "$RELEASE" "$ROOT/charts/credit-scoring" "${ns[@]}" \
  --values "$ROOT/charts/credit-scoring/ci/kind-values.yaml" \
  --values "$ROOT/charts/credit-scoring/ci/split-values.yaml" \
  --set challenger.percent=50 --set challenger.replicas=1 --wait --timeout 15m
kubectl "${ns[@]}" wait --for=condition=Ready "inferenceservice/$RELEASE-challenger" --timeout=10m
seen="$(roles_seen)"
log "roles answering during the split: $seen"
[[ "$seen" == *champion:* && "$seen" == *challenger:* ]] || die "the split should answer with both roles, saw $seen"
[ "$(roles_seen)" = "$seen" ] || die "the same applicants changed sides between two requests"

# 5. -------------------------------------------------------------------------------------------
new_version="$(mlflow_python "from mlflow import MlflowClient
c = MlflowClient('http://127.0.0.1:5000')
v = c.get_model_version_by_alias('credit-risk', 'challenger')
c.set_registered_model_alias('credit-risk', 'champion', v.version)
print(v.version)")"
log "promoted version $new_version to champion; ending the split"
helm upgrade "$RELEASE" "$ROOT/charts/credit-scoring" "${ns[@]}" \
  --values "$ROOT/charts/credit-scoring/ci/kind-values.yaml" --wait --timeout 15m
kubectl "${ns[@]}" wait --for=condition=Ready "inferenceservice/$RELEASE" --timeout=10m
for _ in $(seq 30); do  # the predictor follows the alias within its poll interval
  seen="$(versions_seen 10)"
  [ "$seen" = "$new_version" ] && break
  sleep 10
done
[ "$seen" = "$new_version" ] || die "after promotion expected only version $new_version, saw $seen"
log "kind e2e passed"
