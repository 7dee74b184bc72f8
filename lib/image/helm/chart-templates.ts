// The chart's template files, as text. They use only what template-engine.ts renders (a plain subset of
// Helm's language), so `helm template` and `shield sconify --k8s-helm-manifests` render the same
// objects from the same values. No key is ever here or in values.yaml: the service gets its keys from
// the policy service after attestation.

export const WORKLOAD_KINDS = ['deployment', 'statefulset', 'job', 'daemonset'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export const HELPERS_TPL = `{{/* Names and labels shared by every object of the chart. */}}
{{- define "shieldfs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "shieldfs.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "shieldfs.labels" -}}
{{ include "shieldfs.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
shieldfs.io/service: {{ .Values.session.service | quote }}
{{- end -}}
`;

// The pod: the same for every workload kind.
const POD_SPEC = `    metadata:
      labels:
        {{- include "shieldfs.selectorLabels" . | nindent 8 }}
    spec:
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .Values.restartPolicy }}
      restartPolicy: {{ .Values.restartPolicy }}
      {{- end }}
      containers:
        - name: {{ .Values.session.service | lower }}
          {{- /* not printf "%s": a numeric tag from --set would print as %!s(int64=…) in Go */}}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          env:
            - name: SHIELD_CAS
              value: {{ .Values.cas.address | quote }}
            - name: SHIELD_CAS_KEY
              value: {{ .Values.cas.keyFingerprint | quote }}
            - name: SHIELD_SESSION
              value: {{ .Values.session.name | quote }}
            - name: SHIELD_SERVICE
              value: {{ .Values.session.service | quote }}
          {{- if .Values.service.enabled }}
          ports:
            - name: service
              containerPort: {{ .Values.service.port }}
              protocol: TCP
          {{- end }}
          {{- if or .Values.resources .Values.tee.resource }}
          resources:
            {{- with .Values.resources.requests }}
            requests:
              {{- toYaml . | nindent 14 }}
            {{- end }}
            {{- if or .Values.resources.limits .Values.tee.resource }}
            limits:
              {{- with .Values.resources.limits }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
              {{- if .Values.tee.resource }}
              {{ .Values.tee.resource }}: {{ .Values.tee.count | quote }}
              {{- end }}
            {{- end }}
          {{- end }}
          {{- if .Values.volumes }}
          volumeMounts:
            {{- range $name, $volume := .Values.volumes }}
            - name: {{ $name | lower }}
              mountPath: {{ $volume.mountPath }}
            {{- end }}
          {{- end }}
      {{- if .Values.volumes }}
      volumes:
        {{- range $name, $volume := .Values.volumes }}
        - name: {{ $name | lower }}
          {{- if $volume.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ default (printf "%s-%s" (include "shieldfs.fullname" $) (lower $name)) $volume.persistence.existingClaim }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
`;

const WORKLOAD_HEADER: Record<WorkloadKind, string> = {
  deployment: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "shieldfs.fullname" . }}
  labels:
    {{- include "shieldfs.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  # One instance at a time: a volume has one writer.
  strategy:
    type: Recreate
  selector:
    matchLabels:
      {{- include "shieldfs.selectorLabels" . | nindent 6 }}
  template:
`,
  statefulset: `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ include "shieldfs.fullname" . }}
  labels:
    {{- include "shieldfs.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  serviceName: {{ include "shieldfs.fullname" . }}
  selector:
    matchLabels:
      {{- include "shieldfs.selectorLabels" . | nindent 6 }}
  template:
`,
  daemonset: `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "shieldfs.fullname" . }}
  labels:
    {{- include "shieldfs.labels" . | nindent 4 }}
spec:
  selector:
    matchLabels:
      {{- include "shieldfs.selectorLabels" . | nindent 6 }}
  template:
`,
  job: `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "shieldfs.fullname" . }}
  labels:
    {{- include "shieldfs.labels" . | nindent 4 }}
spec:
  backoffLimit: {{ .Values.job.backoffLimit }}
  template:
`,
};

export function workloadTemplate(kind: WorkloadKind): string {
  return WORKLOAD_HEADER[kind] + POD_SPEC;
}

export const PVC_TEMPLATE = `{{- range $name, $volume := .Values.volumes }}
{{- if and $volume.persistence.enabled (not $volume.persistence.existingClaim) }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ printf "%s-%s" (include "shieldfs.fullname" $) (lower $name) }}
  labels:
    {{- include "shieldfs.labels" $ | nindent 4 }}
spec:
  accessModes:
    {{- toYaml $volume.persistence.accessModes | nindent 4 }}
  {{- if $volume.persistence.storageClass }}
  storageClassName: {{ $volume.persistence.storageClass | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $volume.persistence.size | quote }}
{{- end }}
{{- end }}
`;

export const SERVICE_TEMPLATE = `{{- if .Values.service.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "shieldfs.fullname" . }}
  labels:
    {{- include "shieldfs.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "shieldfs.selectorLabels" . | nindent 4 }}
  ports:
    - name: service
      port: {{ .Values.service.port }}
      targetPort: service
      protocol: TCP
{{- end }}
`;

export const NOTES_TXT = `{{ include "shieldfs.fullname" . }} runs the confidential service {{ .Values.session.service }} of session {{ .Values.session.name }}.

At start the shieldfs runtime proves what it is to the policy service at {{ .Values.cas.address }}
(key {{ .Values.cas.keyFingerprint }}) and gets its keys, command and environment from the session:
nothing secret is in this chart or in the image.
{{- range $name, $volume := .Values.volumes }}
Volume {{ $name }} at {{ $volume.mountPath }}: {{ if $volume.persistence.enabled }}claim {{ default (printf "%s-%s" (include "shieldfs.fullname" $) (lower $name)) $volume.persistence.existingClaim }}{{ else }}emptyDir (lost with the pod; a rollback-protected volume then cannot start again){{ end }}
{{- end }}
{{- if .Values.service.enabled }}
Service: {{ include "shieldfs.fullname" . }} port {{ .Values.service.port }}.
{{- end }}
`;
