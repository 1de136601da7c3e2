{{/*
Chart name, truncated to 63 characters (the DNS label limit that Kubernetes
applies to many name fields).
*/}}
{{- define "mxroute.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release-chart, or just the release name when it already contains
the chart name, truncated to 63 characters.
*/}}
{{- define "mxroute.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "mxroute.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "mxroute.labels" -}}
helm.sh/chart: {{ include "mxroute.chart" . }}
{{ include "mxroute.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mxroute
{{- end }}

{{/*
Selector labels: immutable on a Deployment, so they hold only the name and
the instance, never a version.
*/}}
{{- define "mxroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mxroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "mxroute.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mxroute.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository:tag, or repository@digest when a digest is given.
*/}}
{{- define "mxroute.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Directory the zone ConfigMap is mounted at, and where the image keeps its
copy of the demo zone (which the mount hides).
*/}}
{{- define "mxroute.zonesDir" -}}
/etc/mxroute/zones
{{- end }}

{{/*
Path of the mounted auth tokens file.
*/}}
{{- define "mxroute.authTokensPath" -}}
/etc/mxroute/auth/tokens
{{- end }}

{{/*
Name of the Secret holding the auth tokens file: the existing one, or the
chart's own when tokens are given inline. Empty when auth is not configured.
*/}}
{{- define "mxroute.authSecretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if .Values.auth.tokens }}
{{- include "mxroute.fullname" . }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the Redis password or URL: the existing one, or
the chart's own when the password is given inline. Empty when neither is set.
*/}}
{{- define "mxroute.redisSecretName" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else if .Values.redis.password }}
{{- include "mxroute.fullname" . }}
{{- end }}
{{- end }}

{{/*
Whether the chart creates its own Secret ("true" or empty).
*/}}
{{- define "mxroute.createSecret" -}}
{{- if or (and (not .Values.auth.existingSecret) .Values.auth.tokens) (and (not .Values.redis.existingSecret) .Values.redis.password (ne .Values.redis.mode "none")) }}
{{- "true" }}
{{- end }}
{{- end }}

{{/*
Termination grace period: explicit, or derived from the preStop sleep and the
service's shutdown grace so SIGKILL never cuts a drain short.
*/}}
{{- define "mxroute.terminationGracePeriodSeconds" -}}
{{- $needed := add (int .Values.preStopSleepSeconds) (int .Values.config.shutdownGraceSeconds) }}
{{- $explicit := int .Values.terminationGracePeriodSeconds }}
{{- if eq $explicit 0 }}
{{- add $needed 5 }}
{{- else if le $explicit (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than preStopSleepSeconds + config.shutdownGraceSeconds (%d), or SIGKILL cuts the shutdown drain short" $explicit (int $needed)) }}
{{- else }}
{{- $explicit }}
{{- end }}
{{- end }}

{{/*
Validation of values that templates cannot express as types. Included by the
Deployment so that every render runs it; renders nothing.
*/}}
{{- define "mxroute.validate" -}}
{{- $mode := .Values.redis.mode }}
{{- if not (has $mode (list "none" "standalone" "sentinel" "cluster")) }}
{{- fail (printf "redis.mode must be none, standalone, sentinel or cluster, not %q" (toString $mode)) }}
{{- end }}
{{- if and (eq $mode "standalone") (not .Values.redis.url) (not (and .Values.redis.existingSecret .Values.redis.existingSecretURLKey)) }}
{{- fail "redis.mode=standalone needs redis.url, or redis.existingSecret with redis.existingSecretURLKey" }}
{{- end }}
{{- if and .Values.redis.existingSecretURLKey (not .Values.redis.existingSecret) }}
{{- fail "redis.existingSecretURLKey needs redis.existingSecret" }}
{{- end }}
{{- if and (eq $mode "sentinel") (or (empty .Values.redis.addrs) (not .Values.redis.master)) }}
{{- fail "redis.mode=sentinel needs redis.addrs (Sentinel host:port list) and redis.master" }}
{{- end }}
{{- if and (eq $mode "cluster") (empty .Values.redis.addrs) }}
{{- fail "redis.mode=cluster needs redis.addrs (seed node host:port list)" }}
{{- end }}
{{- $order := toString .Values.config.addressOrder }}
{{- if not (has $order (list "" "presented" "random")) }}
{{- fail (printf "config.addressOrder must be presented, random or empty, not %q" $order) }}
{{- end }}
{{- range $key := list "allowMXToIP" "blockPrivate" }}
{{- $v := toString (index $.Values.config $key) }}
{{- if not (has $v (list "" "true" "false")) }}
{{- fail (printf "config.%s must be true, false or empty, not %q" $key $v) }}
{{- end }}
{{- end }}
{{- range $file, $_ := .Values.zones.files }}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*$" $file) }}
{{- fail (printf "zones.files key %q is not a plain file name" $file) }}
{{- end }}
{{- end }}
{{- $managed := splitList " " (include "mxroute.managedSettings" . | replace "\n" " ") }}
{{- range $name, $_ := .Values.config.extra }}
{{- if not (regexMatch "^MXROUTE_[A-Z0-9_]+$" $name) }}
{{- fail (printf "config.extra key %q is not an MXROUTE_* variable name" $name) }}
{{- end }}
{{- if has $name $managed }}
{{- fail (printf "config.extra sets %s, which the chart already sets from its own values" $name) }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.minReplicas) 1) }}
{{- fail "autoscaling.minReplicas must be at least 1" }}
{{- end }}
{{- end }}

{{/*
MXROUTE_ZONE_FILES: "demo" when the embedded zone is on, then the mounted
files sorted by name; "none" when there is nothing, because unset would mean
the binary's default, the demo zone.
*/}}
{{- define "mxroute.zoneFiles" -}}
{{- $dir := include "mxroute.zonesDir" . }}
{{- $paths := list }}
{{- if .Values.zones.demo }}
{{- $paths = append $paths "demo" }}
{{- end }}
{{- range $file := keys .Values.zones.files | sortAlpha }}
{{- $paths = append $paths (printf "%s/%s" $dir $file) }}
{{- end }}
{{- join "," (default (list "none") $paths) }}
{{- end }}

{{/*
Settings the chart renders from its own values; config.extra must not repeat
them, or the ConfigMap would carry the key twice and one would silently win.
*/}}
{{- define "mxroute.managedSettings" -}}
MXROUTE_LISTEN MXROUTE_SHUTDOWN_GRACE MXROUTE_LOG_LEVEL MXROUTE_DNS_SERVERS
MXROUTE_ADDRESS_ORDER MXROUTE_ALLOW_MX_TO_IP MXROUTE_BLOCK_PRIVATE
MXROUTE_IGNORE_NETWORKS MXROUTE_LOCAL_NAMES MXROUTE_LOCAL_ADDRESSES
MXROUTE_ZONE_FILES MXROUTE_AUTH_TOKENS_FILE MXROUTE_REDIS_URL
MXROUTE_REDIS_SENTINEL_ADDRS MXROUTE_REDIS_SENTINEL_MASTER
MXROUTE_REDIS_CLUSTER_ADDRS MXROUTE_REDIS_PASSWORD
{{- end }}
