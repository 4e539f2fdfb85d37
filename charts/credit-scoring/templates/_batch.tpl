{{/*
Portfolio batch scoring (batch.*, templates/batch.yaml): the pieces the Job, the CronJob and the
SparkApplication share, so all three run the same image with the same settings.
*/}}

{{/* Name of a batch object: (dict "root" $ "suffix" "-r3") */}}
{{- define "credit-scoring.batchName" -}}
{{- $base := printf "%s-batch-%s" (include "credit-scoring.fullname" .root) .root.Values.batch.portfolio | trunc 40 | trimSuffix "-" -}}
{{- printf "%s%s" $base (default "" .suffix) -}}
{{- end -}}

{{/* CREDIT_BATCH_* settings (batch/settings.py) plus the stores every job reads. */}}
{{- define "credit-scoring.batchEnv" -}}
{{- $b := .Values.batch -}}
- name: CREDIT_BATCH_PORTFOLIO
  value: {{ $b.portfolio | quote }}
- name: CREDIT_BATCH_INPUT
  value: {{ $b.input | quote }}
- name: CREDIT_BATCH_OUTPUT
  value: {{ $b.output | quote }}
{{- with $b.rejects }}
- name: CREDIT_BATCH_REJECTS
  value: {{ . | quote }}
{{- end }}
- name: CREDIT_BATCH_MODEL_URI
  value: {{ $b.modelUri | quote }}
{{- with $b.asOf }}
- name: CREDIT_BATCH_AS_OF
  value: {{ . | quote }}
{{- end }}
- name: CREDIT_BATCH_CHUNK_ROWS
  value: {{ $b.chunkRows | quote }}
- name: CREDIT_BATCH_MAX_AGE_HOURS
  value: {{ $b.maxAgeHours | quote }}
- name: CREDIT_PUSHGATEWAY_URL
  value: {{ .Values.stores.pushgateway.url | quote }}
- name: CREDIT_DATA_DIR
  value: /var/lib/credit-scoring/data
# PySpark's Python workers run the image's interpreter.
- name: PYSPARK_PYTHON
  value: /opt/venv/bin/python
{{ include "credit-scoring.commonEnv" . }}
{{ include "credit-scoring.mlflowEnv" . }}
{{ include "credit-scoring.feastEnv" . }}
{{- end -}}

{{/* The data volume (input and output) next to the two writable emptyDirs. */}}
{{- define "credit-scoring.batchVolumes" -}}
{{ include "credit-scoring.volumes" (dict "root" . "settingsSecret" false) }}
- name: data
  persistentVolumeClaim:
    claimName: {{ required "batch.dataClaimName: the batch objects need the PersistentVolumeClaim holding the portfolio" .Values.batch.dataClaimName }}
{{- end -}}

{{- define "credit-scoring.batchVolumeMounts" -}}
{{ include "credit-scoring.volumeMounts" (dict "settingsSecret" false) }}
- name: data
  mountPath: /data
{{- end -}}

{{/* The offline tables Feast's file source names, rebuilt in the pod before anything reads them. */}}
{{- define "credit-scoring.batchPrepare" -}}
credit-scoring data prepare
{{- end -}}

{{/* Pod template of the Job and the CronJob: (dict "root" $ "job" "batch-score") */}}
{{- define "credit-scoring.batchPodTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "credit-scoring.componentSelectorLabels" (dict "root" $root "component" "jobs") | nindent 4 }}
    credit-scoring/job: batch-score
    credit-scoring/portfolio: {{ $root.Values.batch.portfolio | quote }}
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
    - name: batch-score
      image: {{ include "credit-scoring.image" (dict "root" $root "repository" $root.Values.batch.image) }}
      imagePullPolicy: {{ $root.Values.images.pullPolicy }}
      command: [/bin/sh, -ec]
      args:
        - {{ printf "%s; exec credit-scoring batch-score --engine %s --json" (include "credit-scoring.batchPrepare" $root) $root.Values.batch.engine | quote }}
      env:
        {{- include "credit-scoring.batchEnv" $root | nindent 8 }}
      resources:
        {{- toYaml $root.Values.batch.resources | nindent 8 }}
      securityContext:
        {{- include "credit-scoring.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        {{- include "credit-scoring.batchVolumeMounts" $root | nindent 8 }}
  volumes:
    {{- include "credit-scoring.batchVolumes" $root | nindent 4 }}
{{- end -}}

{{/* Driver or executor of the SparkApplication: (dict "root" $ "role" "driver") */}}
{{- define "credit-scoring.sparkPod" -}}
{{- $root := .root -}}
{{- $spec := get $root.Values.batch.sparkApplication .role -}}
cores: {{ $spec.cores }}
coreLimit: {{ $spec.cores | quote }}
memory: {{ $spec.memory | quote }}
{{- if eq .role "executor" }}
instances: {{ $spec.instances }}
{{- else }}
serviceAccount: {{ $root.Values.batch.sparkApplication.serviceAccount | quote }}
{{- end }}
labels:
  {{- include "credit-scoring.componentLabels" (dict "root" $root "component" "batch-spark") | nindent 2 }}
  credit-scoring/portfolio: {{ $root.Values.batch.portfolio | quote }}
podSecurityContext:
  {{- include "credit-scoring.podSecurityContext" $root | nindent 2 }}
securityContext:
  {{- include "credit-scoring.containerSecurityContext" $root | nindent 2 }}
env:
  {{- include "credit-scoring.batchEnv" $root | nindent 2 }}
volumeMounts:
  {{- include "credit-scoring.batchVolumeMounts" $root | nindent 2 }}
# Every pod of the job reads Feast's file source: its tables are rebuilt before Spark starts.
initContainers:
  - name: prepare-data
    image: {{ include "credit-scoring.image" (dict "root" $root "repository" $root.Values.batch.image) }}
    imagePullPolicy: {{ $root.Values.images.pullPolicy }}
    command: [credit-scoring, data, prepare]
    env:
      - name: CREDIT_DATA_DIR
        value: /var/lib/credit-scoring/data
    resources:
      {{- toYaml $root.Values.batch.resources | nindent 6 }}
    securityContext:
      {{- include "credit-scoring.containerSecurityContext" $root | nindent 6 }}
    volumeMounts:
      {{- include "credit-scoring.batchVolumeMounts" $root | nindent 6 }}
{{- end -}}
