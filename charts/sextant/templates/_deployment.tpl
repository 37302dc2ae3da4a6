{{/*
One controller Deployment: the only one (shard -1), or shard i of `shards` (docs/controller.md#sharding):
named <fullname>-shard-<i>, labelled mlops.sextant.dev/shard, run with --shard-index/--shard-count.
Called by deployment.yaml with (dict "root" $ "shard" i).
*/}}
{{- define "sextant.deployment" -}}
{{- $root := .root -}}
{{- $shard := int .shard -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "sextant.fullname" $root }}{{ if ge $shard 0 }}-shard-{{ $shard }}{{ end }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "sextant.labels" $root | nindent 4 }}
spec:
  replicas: {{ $root.Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "sextant.selectorLabels" $root | nindent 6 }}
      {{- if ge $shard 0 }}
      mlops.sextant.dev/shard: {{ $shard | quote }}
      {{- end }}
  template:
    metadata:
      labels:
        {{- include "sextant.selectorLabels" $root | nindent 8 }}
        {{- if ge $shard 0 }}
        mlops.sextant.dev/shard: {{ $shard | quote }}
        {{- end }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $root.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "sextant.serviceAccountName" $root }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      {{- with $root.Values.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.initContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: controller
          image: {{ include "sextant.image" (dict "repository" $root.Values.image.repository "tag" $root.Values.image.tag "appVersion" $root.Chart.AppVersion) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - --leader-elect={{ $root.Values.leaderElection.enabled }}
            - --leader-election-id={{ $root.Values.leaderElection.leaseName }}
            - --metrics-bind-address=:{{ $root.Values.metrics.port }}
            - --metrics-secure={{ $root.Values.metrics.secure }}
            {{- if and $root.Values.metrics.secure $root.Values.metrics.certSecret }}
            - --metrics-cert-dir=/tmp/k8s-metrics-server/metrics-certs
            {{- end }}
            - --health-probe-bind-address=:{{ $root.Values.healthProbe.port }}
            {{- with $root.Values.watchNamespace }}
            - --namespace={{ . }}
            {{- end }}
            {{- with $root.Values.prometheus.url }}
            - --prometheus-url={{ . }}
            {{- end }}
            - --prometheus-timeout-seconds={{ $root.Values.prometheus.timeoutSeconds }}
            {{- with $root.Values.prometheus.caFile }}
            - --prometheus-ca-file={{ . }}
            {{- end }}
            {{- with $root.Values.prometheus.bearerTokenFile }}
            - --prometheus-bearer-token-file={{ . }}
            {{- end }}
            - --trainer-image={{ include "sextant.image" (dict "repository" $root.Values.trainerImage.repository "tag" $root.Values.trainerImage.tag "appVersion" $root.Chart.AppVersion) }}
            - --server-image={{ include "sextant.image" (dict "repository" $root.Values.serverImage.repository "tag" $root.Values.serverImage.tag "appVersion" $root.Chart.AppVersion) }}
            {{- with $root.Values.mlflow.trackingUri }}
            - --mlflow-tracking-uri={{ . }}
            {{- end }}
            {{- with $root.Values.mlflow.caFile }}
            - --mlflow-ca-file={{ . }}
            {{- end }}
            {{- with $root.Values.webhooks.caFile }}
            - --webhook-ca-file={{ . }}
            {{- end }}
            {{- if $root.Values.mpiJobs.enabled }}
            - --mpi-jobs
            {{- end }}
            - --concurrency={{ $root.Values.concurrency }}
            {{- if ge $shard 0 }}
            - --shard-index={{ $shard }}
            - --shard-count={{ $root.Values.shards }}
            {{- end }}
            - --log-level={{ $root.Values.logging.level }}
            {{- if $root.Values.logging.json }}
            - --json-logs
            {{- end }}
            {{- with $root.Values.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if or $root.Values.extraEnv $root.Values.mlflow.existingSecret }}
          env:
            {{- with $root.Values.mlflow.existingSecret }}
            {{- $secret := . }}
            {{- range list "MLFLOW_TRACKING_TOKEN" "MLFLOW_TRACKING_USERNAME" "MLFLOW_TRACKING_PASSWORD" }}
            - name: {{ . }}
              valueFrom:
                secretKeyRef:
                  name: {{ $secret }}
                  key: {{ . }}
                  optional: true
            {{- end }}
            {{- end }}
            {{- with $root.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          ports:
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
              protocol: TCP
            - name: probes
              containerPort: {{ $root.Values.healthProbe.port }}
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: probes
            {{- toYaml $root.Values.livenessProbe | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: probes
            {{- toYaml $root.Values.readinessProbe | nindent 12 }}
          {{- with $root.Values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $root.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and $root.Values.metrics.secure $root.Values.metrics.certSecret }}
            - name: metrics-certs
              mountPath: /tmp/k8s-metrics-server/metrics-certs
              readOnly: true
            {{- end }}
            {{- with $root.Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
        {{- with $root.Values.extraContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumes:
        # The root file system is read-only; /tmp is the only writable place.
        - name: tmp
          emptyDir: {}
        {{- if and $root.Values.metrics.secure $root.Values.metrics.certSecret }}
        - name: metrics-certs
          secret:
            secretName: {{ $root.Values.metrics.certSecret }}
        {{- end }}
        {{- with $root.Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "sextant.affinity" $root }}
      affinity:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
