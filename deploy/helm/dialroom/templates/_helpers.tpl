{{/* Names and labels. */}}
{{- define "dialroom.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dialroom.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dialroom.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dialroom.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "dialroom.secret" -}}
{{- required "existingSecret: name the Secret that holds Dialroom's keys (docs/deploy.md)" .Values.existingSecret -}}
{{- end -}}

{{/*
A Dialroom container's environment, every name spelled as its settings class spells it:
the shared settings, the component's own, where personas and prompts are mounted, then each
secret from existingSecret (optional ones may be absent from it).
Call with (dict "root" $ "settings" .Values.api.settings "secrets" (list ...) "optional" (list ...)).
*/}}
{{- define "dialroom.env" -}}
{{- $root := .root -}}
{{- range $name, $value := $root.Values.settings }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $value := .settings }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
- name: AGENTS_DIR
  value: {{ $root.Values.personas.mountPath | quote }}
- name: PROMPTS_DIR
  value: {{ $root.Values.prompts.mountPath | quote }}
- name: RECORDINGS_DIR
  value: {{ $root.Values.recordings.mountPath | quote }}
{{- range (concat (list "LIVEKIT_API_KEY" "LIVEKIT_API_SECRET" "REDIS_URL" "DATABASE_URL") .secrets) }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "dialroom.secret" $root }}
      key: {{ . }}
{{- end }}
{{- range (concat (list "S3_ACCESS_KEY_ID" "S3_SECRET_ACCESS_KEY") .optional) }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "dialroom.secret" $root }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end -}}

{{/* The persona and prompt volumes: a ConfigMap by name, or any volume given in values. */}}
{{- define "dialroom.dataVolumes" -}}
- name: agents
  {{- if .Values.personas.volume }}
  {{- toYaml .Values.personas.volume | nindent 2 }}
  {{- else }}
  configMap:
    name: {{ required "personas.configMap or personas.volume is required" .Values.personas.configMap }}
  {{- end }}
- name: prompts
  {{- if .Values.prompts.volume }}
  {{- toYaml .Values.prompts.volume | nindent 2 }}
  {{- else }}
  configMap:
    name: {{ required "prompts.configMap or prompts.volume is required" .Values.prompts.configMap }}
  {{- end }}
- name: recordings
  {{- toYaml (required "recordings.volume is required" .Values.recordings.volume) | nindent 2 }}
{{- end -}}

{{- define "dialroom.dataMounts" -}}
- name: agents
  mountPath: {{ .Values.personas.mountPath }}
  readOnly: true
- name: prompts
  mountPath: {{ .Values.prompts.mountPath }}
  readOnly: true
- name: recordings
  mountPath: {{ .Values.recordings.mountPath }}
{{- end -}}

{{- define "dialroom.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
