{{- define "consentry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "consentry.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end -}}

{{- define "consentry.labels" -}}
{{ include "consentry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "consentry.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "consentry.secretName" -}}
{{- if .Values.secrets.create -}}{{ include "consentry.fullname" . }}{{- else -}}{{ .Values.secrets.existingSecret }}{{- end -}}
{{- end -}}

{{/* Refuse values that would deploy something unsafe. */}}
{{- define "consentry.validate" -}}
{{- if not (has .Values.mode (list "edge" "sidecar")) -}}
{{- fail (printf "mode: %q: use edge or sidecar" .Values.mode) -}}
{{- end -}}
{{- if and (not .Values.postgres.enabled) (gt (int .Values.replicas) 1) -}}
{{- fail "postgres.enabled: required with more than one replica: every instance must share the rights registry, or an opt-out seen by one pod is not known to the others" -}}
{{- end -}}
{{- if and .Values.postgres.enabled .Values.persistence.enabled -}}
{{- fail "persistence.enabled: not with postgres.enabled (the data directory holds nothing to keep)" -}}
{{- end -}}
{{- if and (not .Values.secrets.create) (not .Values.secrets.existingSecret) -}}
{{- fail "secrets.existingSecret: required (or secrets.create: true with secrets.values, for development)" -}}
{{- end -}}
{{- if .Values.bundle.enabled -}}
{{- if not .Values.bundle.url -}}{{- fail "bundle.url: required with bundle.enabled" -}}{{- end -}}
{{- if not .Values.bundle.publicKeySecret -}}{{- fail "bundle.publicKeySecret: required with bundle.enabled (verification is mandatory)" -}}{{- end -}}
{{- end -}}
{{- end -}}

{{/* consentry.yaml: the values' config with the settings the chart owns. */}}
{{- define "consentry.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- range $k := list "listen" "admin" "data_dir" -}}
{{- $_ := unset $cfg $k -}}
{{- end -}}
{{- if .Values.postgres.enabled -}}
{{- $rights := get $cfg "rights" | default dict -}}
{{- $_ := set $rights "key" (dict "env" .Values.rightsKeyEnv) -}}
{{- $_ := set $rights "postgres" (dict "dsn" (dict "env" .Values.postgres.dsnEnv) "schema" .Values.postgres.schema "max_staleness" .Values.postgres.maxStaleness) -}}
{{- $_ := set $cfg "rights" $rights -}}
{{- end -}}
{{- if .Values.bundle.enabled -}}
{{- $b := dict "url" .Values.bundle.url "polling" (dict "min_delay" .Values.bundle.polling.minDelay "max_delay" .Values.bundle.polling.maxDelay) "verification" (dict "public_key" (dict "file" "/etc/consentry/bundle/bundle.pub") "key_id" .Values.bundle.keyId) -}}
{{- $_ := set $cfg "policy" (dict "bundle" $b) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The Consentry container after its name; listen is loopback in sidecar mode. */}}
{{- define "consentry.container" -}}
image: {{ include "consentry.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- if eq .Values.mode "sidecar" }}
restartPolicy: Always
{{- end }}
args:
  - serve
  - --config
  - /etc/consentry/consentry.yaml
  - --data
  - /var/lib/consentry
  - --listen
  - {{ if eq .Values.mode "sidecar" }}127.0.0.1{{ end }}:{{ .Values.ports.http }}
  - --admin
  - :{{ .Values.ports.admin }}
ports:
{{- if eq .Values.mode "edge" }}
  - {name: http, containerPort: {{ .Values.ports.http }}, protocol: TCP}
{{- end }}
  - {name: admin, containerPort: {{ .Values.ports.admin }}, protocol: TCP}
envFrom:
  - secretRef: {name: {{ include "consentry.secretName" . }}}
startupProbe:
  httpGet: {path: /readyz, port: admin}
  periodSeconds: 1
  failureThreshold: 120
readinessProbe:
  httpGet: {path: /readyz, port: admin}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet: {path: /livez, port: admin}
  periodSeconds: 10
  failureThreshold: 3
resources:
  {{- toYaml (.Values.resources | default (get .Values.defaultResources .Values.mode)) | nindent 2 }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
volumeMounts:
  - {name: consentry-config, mountPath: /etc/consentry, readOnly: true}
  {{- if .Values.bundle.enabled }}
  - {name: consentry-bundle-key, mountPath: /etc/consentry/bundle, readOnly: true}
  {{- end }}
  - {name: consentry-data, mountPath: /var/lib/consentry}
{{- end -}}
