{{/*
Names and labels. The full name is the release name when it already contains the chart's
name (so `helm install antidote-scheduler` names the objects as deploy/ does), else
<release>-<chart>; both cut to 63 characters, the limit of a DNS label.
*/}}
{{- define "antidote-scheduler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "antidote-scheduler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "antidote-scheduler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object carries (Kubernetes' recommended labels). */}}
{{- define "antidote-scheduler.labels" -}}
helm.sh/chart: {{ include "antidote-scheduler.chart" . }}
{{ include "antidote-scheduler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: antidote-scheduler
{{- end }}

{{/* The release's pods: every selector starts with these. */}}
{{- define "antidote-scheduler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "antidote-scheduler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Pods that serve the HTTP API (`serve` and `api`): what the Service, the ServiceMonitor
and the NetworkPolicy's ingress rule select. Workers and the migrate Job have no listener.
*/}}
{{- define "antidote-scheduler.httpLabel" -}}
antidote-scheduler/serves-http: "true"
{{- end }}

{{- define "antidote-scheduler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "antidote-scheduler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name the existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image, by digest when one is given, else by tag (default: the appVersion). */}}
{{- define "antidote-scheduler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The API port: the configuration's httpPort (the application's default 8086). */}}
{{- define "antidote-scheduler.httpPort" -}}
{{- .Values.config.httpPort | default 8086 }}
{{- end }}

{{/*
The terminal gateway's port: the configuration's gateway.port (the application's default
8087), or empty when the configuration turns the gateway off (gateway.enabled: false).
*/}}
{{- define "antidote-scheduler.terminalsPort" -}}
{{- $gateway := .Values.config.gateway | default dict }}
{{- if ne (toString $gateway.enabled) "false" }}
{{- $gateway.port | default 8087 }}
{{- end }}
{{- end }}

{{/*
The pod securityContext of every pod: the image's non-root user (distroless `nonroot`,
uid 65532), the runtime's default seccomp profile. Pod Security `restricted` admits it.
*/}}
{{- define "antidote-scheduler.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The container securityContext of every container. */}}
{{- define "antidote-scheduler.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* DATABASE_URL from the existing Secret; never a literal URL. */}}
{{- define "antidote-scheduler.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.secretName: the Secret holding the PostgreSQL URL" .Values.database.secretName }}
      key: {{ required "database.secretKey: the key of the URL in database.secretName" .Values.database.secretKey }}
{{- end }}
