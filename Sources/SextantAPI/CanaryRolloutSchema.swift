import SextantJSON

/// The openAPIV3Schema of CanaryRollout.
extension CanaryRollout {
    static func weight(_ description: String) -> Schema {
        .integer(description, min: 0, max: 100)
    }

    static let iterations: Schema = .integer("Analysis intervals that must pass before promotion.", default: 10,
                                             min: 1, max: 1000)

    /// One analysis metric (step and background metrics share it).
    static var metricSchema: Schema {
        .object(
        "A PromQL query (or a built-in template) and its healthy range. Exactly one of `template` and `query`.",
        required: ["name", "thresholdRange"],
        rules: [.init("has(self.template) != has(self.query)", message: "set exactly one of template and query")], [
            "name": .string("Metric name, used in status and Events.", pattern: "^[a-zA-Z][-_a-zA-Z0-9]*$",
                            maxLength: 63, sample: "error-rate"),
            "template": .string("Built-in query over `sextant-server` metrics: `SuccessRate` (ratio of non-5xx predictions, 0-1), `LatencyP99` (seconds), `ModelAccuracy` (classifiers, from prediction feedback, 0-1), `ModelRMSE` (regression, root mean squared error on feedback labels, in the label's unit; set `thresholdRange.max`).",
                                enum: MetricTemplate.allCases.map(\.rawValue)),
            "query": .string("PromQL returning one sample. Templated: `{{ namespace }}`, `{{ name }}` (rollout), `{{ model }}`, `{{ stable }}` and `{{ canary }}` (versions), `{{ interval }}`.",
                             minLength: 1, maxLength: 4096,
                             sample: "sum(rate(sextant_predictions_total{version=\"{{ canary }}\"}[{{ interval }}]))"),
            "thresholdRange": .object("Healthy range, inclusive; at least one bound.",
                                      rules: [.init("has(self.min) || has(self.max)", message: "set min, max or both"),
                                              .init("!has(self.min) || !has(self.max) || self.min <= self.max",
                                                    message: "min must not exceed max")], [
                "min": .number("Lowest healthy value."),
                "max": .number("Highest healthy value."),
            ]),
            "interval": .duration("Window substituted for `{{ interval }}`. Default: `analysis.interval`."),
            "noDataPolicy": .string("What an empty result or NaN counts as: `Fail` (a failed check), `Pass`, `Error` (a query error) or `Ignore` (skipped).",
                                    default: "Fail", enum: NoDataPolicy.allCases.map(\.rawValue)),
        ])
    }

    public static var specSchema: Schema {
        .object("Desired state: which version to roll out, how it is served and routed, and how it is judged.",
                required: ["modelName", "serving", "routing", "strategy"],
                [
            "modelName": .string("Registry name of the model served; every ModelVersion rolled out must belong to it.",
                                 pattern: #"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"#, maxLength: 50, sample: "fraud-detector"),
            "modelVersion": .objectName("The candidate ModelVersion (approved, same model). Changing it starts a rollout; a new candidate during a rollout restarts from the current stable. The first version ever set is promoted at once (there is nothing to compare it with). A TrainingJob with `release.canaryRollout` sets it."),
            "serving": .object("How versions are served: exactly one of `managed` and `external`.",
                               rules: [.init("[has(self.managed), has(self.external)].exists_one(x, x)",
                                             message: "set exactly one of managed and external")], [
                "managed": .object("Sextant runs one `sextant-server` Deployment per served version (`<rollout>-<modelversion>`), with the version's artifact; its pods carry `mlops.sextant.dev/model-version: <modelversion>`.", [
                    "image": .string("Model server image. Default: the controller's `--server-image`.",
                                     sample: "ghcr.io/sextant/sextant-server:0.1.0"),
                    "replicas": .integer("Replicas of each served version.", default: 2, min: 0, max: 1000),
                    "port": .integer("HTTP port of the model server.", default: 8080, min: 1, max: 65535),
                    "resources": .resourceRequirements,
                    "template": .freeform("A corev1.PodTemplateSpec merged under the generated one (labels, annotations, sidecars, tolerations, node selection). The `sextant-server` container's image, args and model settings are Sextant's.",
                                          docType: "PodTemplateSpec"),
                ]),
                "external": .object("GitOps: you manage both Deployments (each serving its version); Sextant only shifts traffic and, if allowed, scales the canary.",
                                    required: ["stableDeployment", "canaryDeployment"], [
                    "stableDeployment": .objectName("Deployment serving the stable version."),
                    "canaryDeployment": .objectName("Deployment serving the candidate."),
                    "scaleDown": .boolean("Scale the canary Deployment to 0 after promotion or rollback (after the delays).",
                                          default: false),
                    "versionLabel": .string("Pod-template label of `stableDeployment` whose value is the ModelVersion it runs. Promotion keeps all traffic on the canary destination until `stableDeployment` runs the candidate (this label equals it and the Deployment is rolled out), then routes 100% to stable.",
                                            default: "mlops.sextant.dev/model-version", minLength: 1, maxLength: 317),
                    "promotionTimeoutSeconds": .integer("How long a promotion waits for your GitOps to update `stableDeployment` to the candidate. After it the rollout shows phase `Waiting`, reason `PromotionTimeout` and a Warning Event; traffic stays on the candidate and promotion still completes once the Deployment catches up.",
                                                        default: 600, min: 1),
                ]),
            ]),
            "routing": .object("Where traffic is split: exactly one of `virtualService` (Istio), `httpRoute` and `grpcRoute` (Gateway API). Sextant patches only the destination weights (and mirror/match for shadow and A/B) of the owned routes or rules of your object. Exactly one of `services` (host-level split) and `destinationRule` (subset-level split, Istio only).",
                               rules: [.init("[has(self.virtualService), has(self.httpRoute), has(self.grpcRoute)].exists_one(x, x)",
                                             message: "set exactly one of virtualService, httpRoute and grpcRoute"),
                                       .init("[has(self.services), has(self.destinationRule)].exists_one(x, x)",
                                             message: "set exactly one of services and destinationRule"),
                                       .init("has(self.virtualService) || has(self.services)",
                                             message: "httpRoute and grpcRoute need services (the stable and canary Services their backendRefs name)")], [
                "virtualService": .object("Istio: the VirtualService whose routes carry the traffic.", required: ["name"], [
                    "name": .objectName("VirtualService name, in this namespace."),
                    "routes": .array("Names of the HTTP routes Sextant owns. Empty: every HTTP route.",
                                     of: .string("A route name.", sample: "primary"), maxItems: 16, listType: "set"),
                ]),
                "httpRoute": .object("Gateway API: the HTTPRoute (gateway.networking.k8s.io/v1) whose rules carry the traffic. Sextant sets only the `weight` of the two backendRefs naming `services.stable` and `services.canary` in each owned rule (plus its RequestMirror filter for shadow and its `sextant-ab-<name>` rule for A/B).",
                                     required: ["name"], [
                    "name": .objectName("HTTPRoute name, in this namespace."),
                    "rules": .array("Names (`rules[].name`) of the rules Sextant owns. Empty: every rule.",
                                    of: .string("A rule name.", sample: "primary"), maxItems: 16, listType: "set"),
                ]),
                "grpcRoute": .object("Gateway API: the GRPCRoute (gateway.networking.k8s.io/v1) whose rules carry the traffic; owned like `httpRoute`.",
                                     required: ["name"], [
                    "name": .objectName("GRPCRoute name, in this namespace."),
                    "rules": .array("Names (`rules[].name`) of the rules Sextant owns. Empty: every rule.",
                                    of: .string("A rule name.", sample: "primary"), maxItems: 16, listType: "set"),
                ]),
                "services": .object("Host-level split: the route's destinations are these two Services.",
                                    required: ["stable", "canary"],
                                    rules: [.init("self.stable != self.canary", message: "stable and canary must differ")], [
                    "stable": .objectName("Service (host) of the stable version."),
                    "canary": .objectName("Service (host) of the candidate."),
                ]),
                "destinationRule": .object("Subset-level split: one host, two subsets of a DestinationRule; Sextant sets only each subset's `mlops.sextant.dev/model-version` label, to the stable and candidate versions (their pods carry that label).",
                                           required: ["name", "host"],
                                           rules: [.init("self.stableSubset != self.canarySubset",
                                                         message: "stableSubset and canarySubset must differ")], [
                    "name": .objectName("DestinationRule name, in this namespace."),
                    "host": .string("Destination host (Service name or FQDN).", minLength: 1, sample: "fraud-detector"),
                    "stableSubset": .string("Subset of the stable version.", default: "stable", minLength: 1, maxLength: 253),
                    "canarySubset": .string("Subset of the candidate.", default: "canary", minLength: 1, maxLength: 253),
                ]),
            ]),
            "strategy": .object("How traffic moves: exactly one of `canary`, `blueGreen`, `shadow`, `abTest`.",
                                rules: [.init("[has(self.canary), has(self.blueGreen), has(self.shadow), has(self.abTest)].exists_one(x, x)",
                                              message: "set exactly one strategy: canary, blueGreen, shadow or abTest")], [
                "canary": .object("Progressive weights: explicit `steps`, or `stepWeight` up to `maxWeight`. After the last step passes, the candidate is promoted to 100%.",
                                  rules: [
                                    .init("has(self.steps) != has(self.stepWeight)", message: "set either steps or stepWeight"),
                                    .init("!has(self.stepWeight) || self.maxWeight >= self.stepWeight",
                                          message: "maxWeight must be >= stepWeight", fieldPath: ".maxWeight"),
                                  ], [
                    "steps": .array("Steps run in order (Argo Rollouts style).", of: .object(
                        "Exactly one of `setWeight` and `pause`.",
                        rules: [.init("has(self.setWeight) != has(self.pause)", message: "set exactly one of setWeight and pause")], [
                            "setWeight": weight("Percent of traffic to the candidate from this step on; analysis runs every interval while it holds."),
                            "pause": .object("Hold the current weight: for `duration`, or until a `promote` request when no duration is given.", [
                                "duration": .duration("How long to pause. Unset: until promoted."),
                            ]),
                        ]), minItems: 1, maxItems: 50),
                    "stepWeight": weight("Flagger style: weight added at each passing analysis interval."),
                    "maxWeight": weight("Flagger style: last weight before promotion.").withDefault(50),
                ]),
                "blueGreen": .object("Blue-green: the candidate gets no user traffic while analysed (preview), then all of it at once.", [
                    "iterations": iterations,
                    "autoPromote": .boolean("Switch at once when analysis passes; false waits for a `promote` request.",
                                            default: true),
                ]),
                "shadow": .object("Shadow: a copy of the live traffic is mirrored to the candidate (responses discarded) while analysed; then promoted.", [
                    "mirrorPercent": weight("Percent of requests mirrored.").withDefault(100),
                    "iterations": iterations,
                    "autoPromote": .boolean("Promote when analysis passes; false waits for a `promote` request.", default: false),
                ]),
                "abTest": .object("A/B: requests matching a header or cookie go to the candidate while analysed; then promoted.",
                                  required: ["match"], [
                    "match": .array("Matches (ORed): exactly one of `header` and `cookie` each.", of: .object(
                        "One match.",
                        rules: [.init("has(self.header) != has(self.cookie)", message: "set exactly one of header and cookie")], [
                            "header": .object("Match a request header.", required: ["name"],
                                              rules: [.init("[has(self.exact), has(self.prefix), has(self.regex)].exists_one(x, x)",
                                                            message: "set exactly one of exact, prefix and regex")], [
                                "name": .string("Header name (lower case).", pattern: "^[a-z0-9-]+$", maxLength: 256,
                                                sample: "x-canary"),
                                "exact": .string("Exact value."),
                                "prefix": .string("Value prefix."),
                                "regex": .string("RE2 regular expression."),
                            ]),
                            "cookie": .object("Match a cookie `name=value`.", required: ["name", "value"], [
                                "name": .string("Cookie name.", pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", maxLength: 256,
                                                sample: "canary"),
                                "value": .string("Cookie value.", sample: "always"),
                            ]),
                        ]), minItems: 1, maxItems: 8),
                    "iterations": iterations,
                    "autoPromote": .boolean("Promote when analysis passes; false waits for a `promote` request.", default: true),
                ]),
            ]),
            "analysis": .object("Prometheus checks run every interval while the candidate takes traffic.", [
                "interval": .duration("Time between two analysis runs (and between two weight steps).", default: "1m"),
                "failureLimit": .integer("Failed checks (over the whole rollout) that trigger a rollback.", default: 5,
                                         min: 1, max: 100),
                "consecutiveErrorLimit": .integer("Consecutive query errors (Prometheus down, bad query) after which the rollout fails; errors hold the rollout meanwhile.",
                                                  default: 4, min: 1, max: 100),
                "prometheus": .prometheusEndpoint,
                "metrics": .array("Metrics checked at each interval; each one must be within its thresholdRange.", of: metricSchema, maxItems: 20, listType: "map", mapKeys: ["name"]),
                "comparisons": .array("Canary versus stable on the same traffic: a success proportion of each version, compared by a one-sided non-inferiority test (`test`: `Fixed`, a two-proportion z-test on each interval; `Sequential`, an always-valid mSPRT over the rollout so far). A candidate worse than stable by more than `maxDegradation` at `confidence` fails the check; too few events is no data, never a failure (docs/canary.md#comparison).", of: .object(
                    "A success proportion per version. Exactly one of `template` and the pair `successQuery` + `totalQuery`.",
                    required: ["name"],
                    rules: [.init("has(self.template) != (has(self.successQuery) && has(self.totalQuery))",
                                  message: "set either template or both successQuery and totalQuery"),
                            .init("has(self.successQuery) == has(self.totalQuery)", message: "successQuery and totalQuery go together"),
                            .init("!has(self.test) || self.test != 'Sequential' || !has(self.interval)",
                                  message: "interval is not used with test Sequential (its window is the rollout so far)"),
                            .init("!has(self.test) || self.test != 'Sequential' || !has(self.template) || self.template != 'ModelAccuracy'",
                                  message: "ModelAccuracy measures a window of labels, not counts since the rollout started: with test Sequential use successQuery and totalQuery over counters")], [
                        "name": .string("Comparison name, used in status and Events.", pattern: "^[a-zA-Z][-_a-zA-Z0-9]*$",
                                        maxLength: 63, sample: "accuracy-vs-stable"),
                        "template": .string("Built-in pair over `sextant-server` metrics: `SuccessRate` (non-5xx requests of all requests, `sextant_requests_total`), `ModelAccuracy` (correct predictions of the labelled rows: `sextant_model_accuracy` × `sextant_feedback_window_rows`).",
                                            enum: ComparisonTemplate.allCases.map(\.rawValue)),
                        "successQuery": .string("PromQL counting one version's good events. Templated like metric queries, plus `{{ version }}` (run once with the stable and once with the candidate).",
                                                minLength: 1, maxLength: 4096,
                                                sample: "sum(increase(sextant_requests_total{version=\"{{ version }}\", code!~\"5..\"}[{{ interval }}]))"),
                        "totalQuery": .string("PromQL counting all of one version's events (same templating).", minLength: 1, maxLength: 4096,
                                              sample: "sum(increase(sextant_requests_total{version=\"{{ version }}\"}[{{ interval }}]))"),
                        "maxDegradation": .number("Largest tolerated drop of the candidate's proportion below stable's (0.01 = one percentage point).",
                                                  default: 0.01, min: 0, max: 0.5),
                        "confidence": .number("Confidence of the one-sided test: 1 − its false-rollback rate (per interval with `Fixed`, over the whole rollout with `Sequential`).",
                                              default: 0.95, min: 0.5, max: 0.9999),
                        "minSamples": .integer("Fewest events on each side before a decision.", default: 200, min: 1),
                        "interval": .duration("Window substituted for `{{ interval }}`. Default: `analysis.interval`. Not with `test: Sequential`, whose window is the time since the rollout started."),
                        "test": .string("`Fixed`: a one-sided two-proportion z-test on each interval's counts, repeated every interval (its error rate is per interval). `Sequential`: a one-sided normal-mixture sequential probability ratio test (mSPRT) on the counts since the rollout started, valid under continuous monitoring: fails once degradation beyond `maxDegradation` is established, passes once non-inferiority is, and holds the step (no pass, no failure) until one of them is.",
                                        default: "Fixed", enum: ComparisonTest.allCases.map(\.rawValue)),
                    ]), maxItems: 10, listType: "map", mapKeys: ["name"]),
                "predictionShift": .object(
                    "Shadow stage: the population stability index (PSI) between the candidate's and the stable version's predicted scores over the same window (the `sextant_prediction_score` histograms both servers export). Above `maxPSI` the check fails; fewer than `minSamples` predictions on either side holds the step. Measured as `predictionShift` (docs/canary.md#prediction-shift).", [
                        "maxPSI": .number("Largest tolerated PSI (0.1: no material shift; 0.25: a large one).", default: 0.1, min: 0.001, max: 10),
                        "minSamples": .integer("Fewest predictions on each side before deciding.", default: 200, min: 1),
                        "interval": .duration("Window of both histograms. Default: `analysis.interval`."),
                    ]),
                "background": .object(
                    "Analysis across steps: these metrics run on their own interval from the first step until promotion, whatever the step. Their runs never advance a step; a failing run counts toward `failureLimit` like a step's (docs/canary.md#background-analysis).",
                    required: ["metrics"], [
                        "interval": .duration("Time between two background runs (and the default `{{ interval }}` of its metrics). Default: `analysis.interval`."),
                        "metrics": .array("Metrics checked across steps; names distinct from `analysis.metrics`.", of: metricSchema,
                                          minItems: 1, maxItems: 20, listType: "map", mapKeys: ["name"]),
                    ]),
                "sessionAffinity": .object(
                    "Canary strategy only: a user once sent to the canary keeps reaching it. The canary destination adds `Set-Cookie: <cookieName>=<value>; Max-Age=<maxAge>` to its responses (the value names this rollout and the candidate version), and a route of Sextant's sends requests carrying that cookie to the canary whatever the weights. Removed on promotion and rollback (docs/routing.md#session-affinity).",
                    required: ["cookieName"], [
                        "cookieName": .string("Cookie name (an RFC 6265 token).", pattern: "^[-!#$%&'*+.^_`|~0-9A-Za-z]+$", maxLength: 64, sample: "sextant-canary"),
                        "maxAge": .integer("Cookie lifetime in seconds.", default: 86400, min: 1),
                    ]),
                "rollbackWindow": .object(
                    "After promotion, `metrics` and `Rollout` webhooks keep running every interval for `intervals` intervals (comparisons and predictionShift do not: the previous version takes no traffic). Failed checks reaching `failureLimit` within the window roll back to the previous stable version, whose Deployment Sextant keeps running until the window closes. Managed serving only (docs/canary.md#rollback-window).",
                    required: ["intervals"], [
                        "intervals": .integer("Analysis intervals the promoted version stays on probation.", min: 1, max: 1000),
                    ]),
            ]),
            "webhooks": .array("HTTP hooks called with a JSON body (rollout, phase, versions, weight, metadata).", of: .object(
                "A webhook.", required: ["name", "type", "url"], [
                    "name": .string("Hook name.", pattern: "^[a-zA-Z][-_a-zA-Z0-9]*$", maxLength: 63, sample: "load-test"),
                    "type": .string("`PreRollout` (before traffic moves; failure aborts), `Rollout` (each interval; failure is a failed check), `ConfirmPromotion` (before promotion; failure holds), `ConfirmTrafficIncrease` (before each increase of the canary weight; failure holds the weight, asked again each interval), `PostRollout`, `Rollback` (informational).",
                                    enum: WebhookType.allCases.map(\.rawValue)),
                    "url": .string("URL to POST to.", pattern: "^https?://.+$", sample: "http://loadtester.test/hooks/start"),
                    "timeout": .duration("Timeout of one call.", default: "10s"),
                    "retries": .integer("Retries of a failed call before it counts as failed.", default: 2, min: 0, max: 10),
                    "metadata": .map("Extra key/values sent in the body.", of: .string("A value.")),
                    "secretRef": .secretReference.withDescription(
                        "A Secret in this namespace with `token` (bearer) or `username` and `password` (basic auth) sent with each call, and/or `ca.crt` (PEM CA bundle that verifies an https `url`, instead of the controller's `--webhook-ca-file`). Certificates are always verified."),
                ]), maxItems: 16, listType: "map", mapKeys: ["name"]),
            "notifications": .notifications(NotificationEvent.rollout),
            "paused": .boolean("Hold the rollout at its current step (analysis continues, no step advances) while true.",
                               default: false),
            "progressDeadlineSeconds": .integer("A rollout making no progress (Deployment not ready, hold on errors) this long fails and rolls back.",
                                                default: 600, min: 1),
            "scaleDownDelaySeconds": .integer("After promotion, the old stable keeps its replicas this long (in-flight requests, quick revert).",
                                              default: 30, min: 0),
            "abortScaleDownDelaySeconds": .integer("After a rollback, the candidate keeps its replicas this long (for debugging).",
                                                   default: 30, min: 0),
        ])
    }

    public static var statusSchema: Schema {
        .object("Observed state, written by the controller. Every timer is a timestamp here, so a restarted controller continues without skipping or repeating a step.", [
            "phase": .string("`Initializing` (first version, or Deployments not ready yet), `Progressing`, `Paused` (pause step or `spec.paused`), `Promoting` (candidate at 100%, finishing), `Succeeded`, `RolledBack` (analysis failed or aborted; traffic back on stable), `Failed` (deadline or errors; traffic back on stable), `Waiting` (holding: routing object missing, candidate not serving or not eligible, analysis errors, GitOps late; `reason` says which), `Invalid` (the spec is invalid; see the `Ready` condition).",
                             enum: RolloutPhase.allCases.map(\.rawValue)),
            "conditions": .conditions("`Ready`, `Progressing`, `Promoted`, `RoutingReady` (VirtualService and routes found and patched) with reason and message."),
            "observedGeneration": .integer("The .metadata.generation last acted on.", min: 0, format: "int64"),
            "message": .string("Human readable summary; on rollback: which metric, value and threshold."),
            "stableVersion": .string("ModelVersion serving the stable traffic."),
            "canaryVersion": .string("ModelVersion being rolled out (empty when none)."),
            "currentStepIndex": .integer("Index of the current step (explicit steps, or the steps derived from stepWeight/maxWeight).",
                                         min: 0),
            "canaryWeight": weight("Percent of traffic on the candidate, as last written and verified."),
            "mirrorPercent": weight("Shadow: percent of traffic mirrored."),
            "iterations": .integer("Passing analysis runs in the current step (blue-green, shadow, A/B: since the start).", min: 0),
            "failedChecks": .integer("Failed checks since the rollout started; rollback at `analysis.failureLimit`.", min: 0),
            "consecutiveErrors": .integer("Query errors in a row; the rollout fails at `analysis.consecutiveErrorLimit`.", min: 0),
            "measurements": .array("Latest measurement of each metric.", of: .object(
                "One measurement.", required: ["metric", "outcome", "time"], [
                    "metric": .string("Metric name."),
                    "value": .number("Measured value (absent for NoData and Error)."),
                    "query": .string("The query as sent, templates resolved."),
                    "outcome": .string("`Pass`, `Fail`, `NoData` or `Error`.", enum: MeasurementOutcome.allCases.map(\.rawValue)),
                    "time": .time("When it was measured."),
                    "message": .string("Error text, or the range it was compared with."),
                ]), maxItems: 32, listType: "map", mapKeys: ["metric"]),
            "lastAnalysisTime": .time("When the last analysis ran; the next is due one interval later."),
            "rolloutStartTime": .time("When the current rollout started."),
            "stepStartTime": .time("When the current step started."),
            "pauseStartTime": .time("When the current pause started; a timed pause ends at this plus its duration."),
            "lastProgressTime": .time("Last progress (step advanced, Deployment became ready); `progressDeadlineSeconds` counts from here."),
            "scaleDownTime": .time("When the old stable (after promotion) or the candidate (after rollback) is due to be scaled down."),
            "webhooks": .array("Latest call of each webhook.", of: .object(
                "One call.", required: ["name", "type", "time", "succeeded"], [
                    "name": .string("Hook name."),
                    "type": .string("Hook type.", enum: WebhookType.allCases.map(\.rawValue)),
                    "time": .time("When it was called."),
                    "succeeded": .boolean("2xx within the timeout."),
                    "statusCode": .integer("HTTP status.", min: 0, max: 999),
                    "message": .string("Error or response excerpt."),
                ]), maxItems: 16, listType: "map", mapKeys: ["name"]),
            "requests": .object("Manual requests. They live in status, written through the status subresource (`sextant promote|abort|retry`, or `kubectl patch --subresource=status --type=merge`), so they bump no generation, cause no GitOps drift and can be granted by RBAC on `canaryrollouts/status` alone. The controller acts on each once and clears it.", [
                "promote": .manualRequest("Skip the remaining steps (or end an indefinite pause) and promote; the ConfirmPromotion webhook still gates."),
                "abort": .manualRequest("Roll back now: weight 0, phase `RolledBack`, reason `Aborted`."),
                "retry": .manualRequest("After `RolledBack` or `Failed`, start again from the first step with the same candidate."),
            ]),
            "lastHandledRequest": .string("`requestedAt` of the last request acted on (requests are idempotent)."),
            "reason": .string("Why the rollout is in its phase, CamelCase (e.g. `VirtualServiceNotFound`, `NotApproved`, `AnalysisFailed`, `InvalidSpec`)."),
            "heldPhase": .string("Under `Waiting` or `Invalid`: the phase resumed once the wait is over or the spec is fixed; traffic follows it meanwhile.",
                                 enum: RolloutPhase.allCases.map(\.rawValue)),
            "history": .array("The latest rollouts, newest last (at most \(RolloutRecord.limit)). ModelVersion records and the RolloutStarted, Promoted, RolledBack and RolloutFailed Events derive from it.", of: .object(
                "One rollout of a candidate.", required: ["version", "startTime"], [
                    "version": .string("The candidate ModelVersion."),
                    "stableVersion": .string("The stable version when it started."),
                    "startTime": .time("When it started; with the rollout's uid, the identity of its Events."),
                    "trigger": .string("`RolloutRetried` when started by a retry request."),
                    "outcome": .string("How it ended; absent while it runs.", enum: RolloutOutcome.allCases.map(\.rawValue)),
                    "endTime": .time("When it ended."),
                    "reason": .string("Reason of the outcome (e.g. `AnalysisFailed`)."),
                    "message": .string("The status message when it ended."),
                ]), maxItems: 16),
            "notifications": .notificationRecords,
            "backgroundAnalysisTime": .time("When the background analysis last ran (before its first run: when the first step started); the next run is due one background interval later."),
            "rollbackWindow": .object("Open while a promoted version is on probation (`analysis.rollbackWindow`).",
                                      required: ["version", "previousStable", "startTime", "endTime"], [
                "version": .string("The promoted version on probation."),
                "previousStable": .string("The stable version before the promotion; a failure within the window routes back to it."),
                "startTime": .time("When the version was promoted."),
                "endTime": .time("When the window closes."),
                "failedChecks": .integer("Failed checks within the window; rollback at `analysis.failureLimit`.", min: 0),
            ]),
        ])
    }
}
