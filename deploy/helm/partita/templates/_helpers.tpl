{{/* Names and labels. */}}
{{- define "partita.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "partita.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* partita.componentName: (dict "root" $ "component" "scorer") → <fullname>-scorer. */}}
{{- define "partita.componentName" -}}
{{- printf "%s-%s" (include "partita.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "partita.selectorLabels" -}}
app.kubernetes.io/name: {{ include "partita.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "partita.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "partita.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: partita
{{- end -}}

{{/* Labels without a component, for objects of the whole release. */}}
{{- define "partita.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "partita.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: partita
{{- end -}}

{{- define "partita.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "partita.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "partita.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "partita.secretName" -}}
{{- default (include "partita.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The work stages: service → the stage label of partita_stage_backlog. */}}
{{- define "partita.stages" -}}
ingest: ingest
splitter: split
scorer: score
optimizer: optimize
aggregator: aggregate
{{- end -}}

{{/* Services of the microservices shape, in start order (compose.Services). */}}
{{- define "partita.services" -}}
ingest splitter scorer optimizer aggregator webhooks gateway
{{- end -}}

{{/* Services that open the artifact store (internal/compose modules.go). */}}
{{- define "partita.storeServices" -}}
ingest splitter scorer optimizer aggregator gateway
{{- end -}}

{{/* Services that call addresses users give, through libs/safehttp's
client: the gateway (input_url), the scorer (remote models) and the
webhook dispatcher (webhooks). */}}
{{- define "partita.outboundServices" -}}
gateway scorer webhooks
{{- end -}}

{{/* The configuration file every process loads (--config), as YAML. */}}
{{- define "partita.config" -}}
{{- $platform := dict "ort_lib" .Values.ortLib -}}
{{- $managed := dict -}}
{{- if eq .Values.deploymentMode "SingleBinary" -}}
{{- $_ := set $platform "data_dir" "/data" -}}
{{- $_ := set $platform "replicas" 1 -}}
{{- $_ := set $platform "store" (dict "backend" "local" "dir" "/data/artifacts") -}}
{{- else -}}
{{- $_ := set $platform "nats_url" (required "nats.url is required with deploymentMode Microservices" .Values.nats.url) -}}
{{- $_ := set $platform "replicas" (int .Values.nats.replicas) -}}
{{- $_ := set $platform "store" (dict "backend" "s3" "endpoint" (required "s3.endpoint is required with deploymentMode Microservices" .Values.s3.endpoint) "region" .Values.s3.region "bucket" .Values.s3.bucket "use_ssl" .Values.s3.useSSL "create_bucket" .Values.s3.createBucket) -}}
{{- $_ := set $managed "admin_addr" (printf ":%d" (int .Values.adminPort)) -}}
{{- end -}}
{{- $_ := set $managed "platform" $platform -}}
{{- $_ := set $managed "gateway" (dict "addr" (printf ":%d" (int .Values.service.port))) -}}
{{- toYaml (mustMergeOverwrite $managed (deepCopy .Values.config)) -}}
{{- end -}}

{{/* A checksum of the configuration without tiers and prices, which the
processes apply without a restart: any other change rolls the pods. */}}
{{- define "partita.configChecksum" -}}
{{- $cfg := fromYaml (include "partita.config" .) -}}
{{- $_ := unset $cfg "tiers" -}}
{{- $_ := unset $cfg "prices" -}}
{{- toYaml $cfg | sha256sum -}}
{{- end -}}

{{- define "partita.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "partita.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* partita.env: (dict "root" $ "adminKey" bool "secretsKey" bool "s3" bool) */}}
{{- define "partita.env" -}}
{{- $root := .root -}}
{{- if .adminKey }}
- name: PARTITA_ADMIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "partita.secretName" $root }}
      key: {{ $root.Values.secrets.secretKeys.adminKey }}
{{- end }}
{{- if .secretsKey }}
- name: PARTITA_SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "partita.secretName" $root }}
      key: {{ $root.Values.secrets.secretKeys.secretsKey }}
{{- end }}
{{- if .s3 }}
- name: PARTITA_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "partita.secretName" $root }}
      key: {{ $root.Values.secrets.secretKeys.s3AccessKey }}
      optional: true
- name: PARTITA_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "partita.secretName" $root }}
      key: {{ $root.Values.secrets.secretKeys.s3SecretKey }}
      optional: true
{{- end }}
{{- with $root.Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $root.Values.tracing.protocol | quote }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* partita.probes: (dict "port" "http") — startup and liveness on /healthz, readiness on /readyz. */}}
{{- define "partita.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* partita.podPlacement: (dict "root" $ "component" name) — scheduling shared by every pod. */}}
{{- define "partita.podPlacement" -}}
{{- $root := .root -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "partita.selectorLabels" (dict "root" $root "component" $.component) | nindent 8 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Is KEDA used? The value, and the cluster serving its API. */}}
{{- define "partita.keda" -}}
{{- if and .Values.autoscaling.keda.enabled (.Capabilities.APIVersions.Has "keda.sh/v1alpha1") -}}true{{- end -}}
{{- end -}}

{{/* partita.autoscaled: (dict "root" $ "component" name) — "true" when a ScaledObject or an HPA sets the replicas. */}}
{{- define "partita.autoscaled" -}}
{{- $svc := index .root.Values .component -}}
{{- if $svc.autoscaling.enabled -}}true{{- end -}}
{{- end -}}
