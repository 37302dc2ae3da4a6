{{/* Chart name (app.kubernetes.io/name). */}}
{{- define "sextant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the controller's objects: "sextant-controller" for a release named "sextant". */}}
{{- define "sextant.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "sextant.name" .) .Release.Name -}}
{{- printf "%s-controller" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s-controller" .Release.Name (include "sextant.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sextant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sextant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "sextant.labels" -}}
{{ include "sextant.selectorLabels" . }}
app.kubernetes.io/part-of: sextant
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "sextant.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sextant.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sextant.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) -}}
{{- end -}}

{{/*
The rules of the controllers' (Cluster)Role, derived from Sources/SextantControllers and
Sources/SextantOperator (docs/install.md, "RBAC"). manifests/base/rbac.yaml carries the same rules;
hack/validate-manifests.sh fails when they differ.
*/}}
{{- define "sextant.controllerRules" -}}
- apiGroups: ["mlops.sextant.dev"]
  resources: ["trainingjobs"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["mlops.sextant.dev"]
  resources: ["modelversions"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: ["mlops.sextant.dev"]
  resources: ["canaryrollouts"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["mlops.sextant.dev"]
  resources: ["trainingjobs/status", "modelversions/status", "canaryrollouts/status"]
  verbs: ["update", "patch"]
- apiGroups: ["mlops.sextant.dev"]
  resources: ["trainingjobs/finalizers", "canaryrollouts/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- if .Values.mpiJobs.enabled }}
# TrainingJobs with spec.workers > 1 run as Kubeflow MPIJobs (--mpi-jobs; the MPI Operator must be installed).
- apiGroups: ["kubeflow.org"]
  resources: ["mpijobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# The running trainer's progress lines (docs/training.md#progress).
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "delete"]
# spec.notifications[].secretRef: the webhook URL of a notification target.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "patch"]
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices", "destinationrules"]
  verbs: ["get", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/*
Secure metrics serving (Sources/SextantOperator/AccessReview.swift): a TokenReview and a
SubjectAccessReview per scrape (cached).
*/}}
{{- define "sextant.metricsAuthRules" -}}
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end -}}

{{- define "sextant.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end -}}

{{/*
The controller Pods' affinity: `affinity` when set, otherwise the podAntiAffinityPreset that keeps
the replicas on different nodes (soft: preferred; hard: required). manifests/base/deployment.yaml
carries the soft preset (hack/validate-manifests.sh compares them).
*/}}
{{- define "sextant.affinity" -}}
{{- if .Values.affinity -}}
{{ toYaml .Values.affinity }}
{{- else if eq .Values.podAntiAffinityPreset "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "sextant.selectorLabels" . | nindent 12 }}
{{- else if eq .Values.podAntiAffinityPreset "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "sextant.selectorLabels" . | nindent 10 }}
{{- else if .Values.podAntiAffinityPreset -}}
{{- fail (printf "podAntiAffinityPreset must be soft, hard or empty, not %q" .Values.podAntiAffinityPreset) -}}
{{- end -}}
{{- end -}}

{{/*
What the users' roles get, aggregated into the built-in view/edit/admin ClusterRoles. The manual
requests (`sextant approve|reject|retrain|promote|abort|retry`) get the object and merge-patch its
status subresource (Sources/SextantCLI/Requests.swift), so edit includes patch on the status subresources.
manifests/base/aggregate-roles.yaml carries the same rules (hack/validate-manifests.sh compares).
*/}}
{{- define "sextant.viewRules" -}}
- apiGroups: ["mlops.sextant.dev"]
  resources: ["trainingjobs", "modelversions", "canaryrollouts", "trainingjobs/status", "modelversions/status", "canaryrollouts/status"]
  verbs: ["get", "list", "watch"]
{{- end -}}

{{- define "sextant.editRules" -}}
- apiGroups: ["mlops.sextant.dev"]
  resources: ["trainingjobs", "modelversions", "canaryrollouts"]
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- apiGroups: ["mlops.sextant.dev"]
  resources: ["trainingjobs/status", "modelversions/status", "canaryrollouts/status"]
  verbs: ["update", "patch"]
{{- end -}}
