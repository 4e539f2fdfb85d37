{{/*
Building blocks shared by the InferenceServices and the jobs. Every container runs as the images'
non-root user on a read-only root filesystem; the only writable paths are two emptyDirs.
*/}}

{{/* Image reference: (dict "root" $ "repository" "credit-scoring-predictor") */}}
{{- define "credit-scoring.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.images.tag -}}
{{- if .root.Values.images.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.images.registry) .repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "credit-scoring.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "credit-scoring.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* CREDIT_HOME (embedded state, inference-log spill file) and /tmp are the writable paths. */}}
{{- define "credit-scoring.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /var/lib/credit-scoring
{{- if .settingsSecret }}
- name: settings-secrets
  mountPath: /var/run/secrets/credit-scoring
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes: (dict "root" $ "settingsSecret" true) mounts secrets.app's settings keys as files. */}}
{{- define "credit-scoring.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: home
  emptyDir:
    sizeLimit: 1Gi
{{- if .settingsSecret }}
- name: settings-secrets
  secret:
    secretName: {{ .root.Values.secrets.app }}
    defaultMode: 0440
    # Only the keys read by pydantic-settings (secrets_dir); the others reach env via secretKeyRef.
    items:
      - key: CREDIT_INFERENCE_LOG_URL
        path: CREDIT_INFERENCE_LOG_URL
      - key: CREDIT_INFERENCE_LOG_HASH_KEY
        path: CREDIT_INFERENCE_LOG_HASH_KEY
{{- end }}
{{- end -}}

{{- define "credit-scoring.commonEnv" -}}
- name: CREDIT_HOME
  value: /var/lib/credit-scoring
{{- end -}}

{{/* MLflow registry and S3 artifacts: MLflow and boto3 read these from the environment only. */}}
{{- define "credit-scoring.mlflowEnv" -}}
- name: MLFLOW_TRACKING_URI
  value: {{ .Values.stores.mlflow.trackingUri | quote }}
- name: MLFLOW_S3_ENDPOINT_URL
  value: {{ .Values.stores.s3.endpoint | quote }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ .Values.stores.s3.endpoint | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.stores.s3.region | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.s3 }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.s3 }}
      key: AWS_SECRET_ACCESS_KEY
{{- end -}}

{{/* Feast production profile (feature_repo/feature_store.production.yaml fills ${VAR}s from these). */}}
{{- define "credit-scoring.feastEnv" -}}
- name: CREDIT_FEATURE_REPO
  value: /app/feature_repo
- name: CREDIT_FEATURE_STORE_CONFIG
  value: /app/feature_repo/feature_store.production.yaml
- name: CREDIT_FEAST_REGISTRY_HOST
  value: {{ .Values.stores.postgres.host | quote }}
- name: CREDIT_FEAST_REGISTRY_PORT
  value: {{ .Values.stores.postgres.port | quote }}
- name: CREDIT_FEAST_REGISTRY_DB
  value: {{ .Values.stores.postgres.feastDatabase | quote }}
- name: CREDIT_FEAST_REGISTRY_USER
  value: {{ .Values.stores.postgres.feastUser | quote }}
- name: CREDIT_FEAST_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.app }}
      key: CREDIT_FEAST_REGISTRY_PASSWORD
- name: CREDIT_REDIS_HOST
  value: {{ .Values.stores.redis.host | quote }}
- name: CREDIT_REDIS_PORT
  value: {{ .Values.stores.redis.port | quote }}
- name: CREDIT_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.app }}
      key: CREDIT_REDIS_PASSWORD
{{- end -}}

{{- define "credit-scoring.inferenceLogEnv" -}}
- name: CREDIT_INFERENCE_LOG_SPILL_DIR
  value: /var/lib/credit-scoring/inference-log-spill
{{- end -}}

{{/* KServe model-server probes: live while the process serves, ready once the model is. */}}
{{- define "credit-scoring.probes" -}}
readinessProbe:
  httpGet:
    path: /v2/models/{{ .modelName }}/ready
    port: 8080
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /v2/health/live
    port: 8080
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 6
{{- if not .knative }}
{{- /* Knative runs its own startup gating through the queue-proxy. */}}
startupProbe:
  httpGet:
    path: /v2/health/live
    port: 8080
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 60
{{- end }}
{{- end -}}

{{/* The predictor container; .modelUri differs between champion and challenger. */}}
{{- define "credit-scoring.predictorContainer" -}}
{{- $root := .root -}}
- name: kserve-container
  image: {{ include "credit-scoring.image" (dict "root" $root "repository" $root.Values.images.predictor) }}
  imagePullPolicy: {{ $root.Values.images.pullPolicy }}
  command: ["python", "-m", "predictor"]
  args:
    - --model_name
    - {{ $root.Values.predictor.modelName | quote }}
    - --http_port
    - "8080"
    - --grpc_port
    - "8081"
    - --workers
    - "1"
  ports:
    - name: http1
      containerPort: 8080
      protocol: TCP
  env:
    - name: CREDIT_MODEL_URI
      value: {{ .modelUri | quote }}
    - name: CREDIT_BIND_ADDRESS
      value: 0.0.0.0
    {{- include "credit-scoring.commonEnv" $root | nindent 4 }}
    {{- include "credit-scoring.mlflowEnv" $root | nindent 4 }}
    {{- with $root.Values.predictor.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml $root.Values.predictor.resources | nindent 4 }}
  securityContext:
    {{- include "credit-scoring.containerSecurityContext" $root | nindent 4 }}
  volumeMounts:
    {{- include "credit-scoring.volumeMounts" (dict "settingsSecret" false) | nindent 4 }}
  {{- include "credit-scoring.probes" (dict "modelName" $root.Values.predictor.modelName "knative" (eq $root.Values.serving.deploymentMode "Knative")) | nindent 2 }}
{{- end -}}
{{/* Fields every pod spec of a KServe component carries. */}}
{{- define "credit-scoring.componentPodFields" -}}
serviceAccountName: {{ include "credit-scoring.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- include "credit-scoring.podSecurityContext" .root | nindent 2 }}
{{- with .root.Values.images.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress rule to one store: (dict "namespace" ns "store" .Values.stores.redis) */}}
{{- define "credit-scoring.netpol.store" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .store.podLabels | nindent 10 }}
  ports:
    - protocol: TCP
      port: {{ .store.port }}
{{- end -}}
{{- define "credit-scoring.netpol.knative" -}}
{{- range .Values.networkPolicy.knativeNamespaces }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
{{- end }}
{{- end -}}

{{/*
Pod template of a batch job: (dict "root" $ "job" "drift" "command" (list ...) "args" (list ...)).
Every job gets the whole store environment; the NetworkPolicy "jobs" limits where it can go.
*/}}
{{- define "credit-scoring.jobPodTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "credit-scoring.componentSelectorLabels" (dict "root" $root "component" "jobs") | nindent 4 }}
    credit-scoring/job: {{ .job }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "credit-scoring.serviceAccountName" $root }}
  automountServiceAccountToken: false
  securityContext:
    {{- include "credit-scoring.podSecurityContext" $root | nindent 4 }}
  {{- with $root.Values.images.pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  containers:
    - name: {{ .job }}
      image: {{ include "credit-scoring.image" (dict "root" $root "repository" $root.Values.images.jobs) }}
      imagePullPolicy: {{ $root.Values.images.pullPolicy }}
      command:
        {{- toYaml .command | nindent 8 }}
      {{- with .args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      env:
        - name: CREDIT_DATA_DIR
          value: /var/lib/credit-scoring/data
        - name: CREDIT_PUSHGATEWAY_URL
          value: {{ $root.Values.stores.pushgateway.url | quote }}
        - name: CREDIT_DRIFT_WINDOW_HOURS
          value: {{ $root.Values.jobs.drift.windowHours | quote }}
        {{- if and (eq .job "train") $root.Values.jobs.train.fairnessException }}
        - name: CREDIT_FAIRNESS_EXCEPTION
          value: {{ $root.Values.jobs.train.fairnessException | quote }}
        {{- end }}
        - name: MPLCONFIGDIR
          value: /tmp/matplotlib
        {{- include "credit-scoring.commonEnv" $root | nindent 8 }}
        {{- include "credit-scoring.mlflowEnv" $root | nindent 8 }}
        {{- include "credit-scoring.feastEnv" $root | nindent 8 }}
      resources:
        {{- toYaml $root.Values.jobs.resources | nindent 8 }}
      securityContext:
        {{- include "credit-scoring.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        {{- include "credit-scoring.volumeMounts" (dict "settingsSecret" true) | nindent 8 }}
  volumes:
    {{- include "credit-scoring.volumes" (dict "root" $root "settingsSecret" true) | nindent 4 }}
{{- end -}}

{{/* The jobs, by name: command and args of each (the chart-code contract test runs them). */}}
{{- define "credit-scoring.jobCommands" -}}
# The offline tables are rebuilt from the packaged dataset first (a few seconds, deterministic):
# Feast's file source and the training set read them from CREDIT_DATA_DIR.
drift:
  command: [python, -m, monitoring.drift]
  args: []
materialize:
  # Feast's incremental load up to "now", then the materialization marker the transformer checks;
  # a full backfill when the online store lost the marker (Redis came back empty).
  command: [/bin/sh, -ec]
  args:
    - credit-scoring data prepare; exec credit-scoring features materialize --incremental
features-apply:
  # Register the definitions, then backfill the online store with each applicant's latest profile.
  command: [/bin/sh, -ec]
  args:
    - credit-scoring data prepare; credit-scoring features apply; credit-scoring features materialize
train:
  command: [/bin/sh, -ec]
  args:
    - credit-scoring data prepare; exec credit-scoring train --json
{{- end -}}
