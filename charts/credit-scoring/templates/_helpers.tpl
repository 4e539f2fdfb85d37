{{/* Names and labels only; container and pod building blocks live in _components.tpl. */}}

{{- define "credit-scoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name, also the InferenceService name. KServe derives Deployment and Service names from it
("<name>-predictor", "<name>-challenger-predictor"), so it is kept to 40 characters.
*/}}
{{- define "credit-scoring.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "credit-scoring.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "credit-scoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "credit-scoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "credit-scoring.labels" -}}
helm.sh/chart: {{ include "credit-scoring.chart" . }}
{{ include "credit-scoring.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: credit-scoring
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "transformer") */}}
{{- define "credit-scoring.componentSelectorLabels" -}}
{{ include "credit-scoring.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "credit-scoring.componentLabels" -}}
{{ include "credit-scoring.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "credit-scoring.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "credit-scoring.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
