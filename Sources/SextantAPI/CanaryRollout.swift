import SextantJSON
import SextantKubeTypes

/// Puts a ModelVersion in front of live traffic step by step by patching the weights of an Istio
/// VirtualService, checks Prometheus at every step, promotes it when healthy and rolls back
/// automatically when not.
public struct CanaryRollout: KubernetesResource, Hashable {
    public static let group = SextantGroup.name
    public static let version = SextantGroup.version
    public static let kind = "CanaryRollout"
    public static let plural = "canaryrollouts"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: CanaryRolloutSpec
    public var status: CanaryRolloutStatus?

    public init(metadata: ObjectMeta, spec: CanaryRolloutSpec, status: CanaryRolloutStatus? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct CanaryRolloutSpec: Codable, Sendable, Hashable {
    public var modelName: String
    /// The candidate: the ModelVersion that should end up serving. Changing it starts a rollout.
    public var modelVersion: String?
    public var serving: ServingSpec
    public var routing: RoutingSpec
    public var strategy: RolloutStrategy
    public var analysis: AnalysisSpec?
    public var webhooks: [RolloutWebhook]?
    /// Where RolloutStarted, StepAdvanced, AnalysisFailed, Promoted, RolledBack, RolloutFailed are posted.
    public var notifications: [NotificationTarget]?
    /// Holds the rollout at its current step while true.
    public var paused: Bool?
    public var progressDeadlineSeconds: Int?
    public var scaleDownDelaySeconds: Int?
    public var abortScaleDownDelaySeconds: Int?

    public init(modelName: String, serving: ServingSpec, routing: RoutingSpec, strategy: RolloutStrategy) {
        self.modelName = modelName
        self.serving = serving
        self.routing = routing
        self.strategy = strategy
    }
}

/// Exactly one of `managed` and `external`.
public struct ServingSpec: Codable, Sendable, Hashable {
    public var managed: ManagedServing?
    public var external: ExternalServing?
    public init(managed: ManagedServing? = nil, external: ExternalServing? = nil) {
        self.managed = managed
        self.external = external
    }
}

/// Sextant creates one `sextant-server` Deployment per served version.
public struct ManagedServing: Codable, Sendable, Hashable {
    public var image: String?
    public var replicas: Int?
    public var port: Int?
    public var resources: ResourceRequirements?
    /// A `corev1.PodTemplateSpec` merged under the generated one (labels, annotations, sidecars,
    /// tolerations, ...); the `sextant-server` container's image, args and model env are Sextant's.
    public var template: JSONValue?
    public init() {}
}

/// GitOps: the user manages the Deployments; Sextant shifts traffic and scales.
public struct ExternalServing: Codable, Sendable, Hashable {
    public var stableDeployment: String
    public var canaryDeployment: String
    /// Whether Sextant may scale the canary Deployment to 0 after promotion or rollback.
    public var scaleDown: Bool?
    /// Pod-template label of `stableDeployment` whose value names the ModelVersion it runs
    /// (default `mlops.sextant.dev/model-version`). Promotion routes traffic back to the stable
    /// destination only once it names the candidate and the Deployment is rolled out.
    public var versionLabel: String?
    /// How long a promotion waits for the stable Deployment to run the candidate before the
    /// rollout reports `Waiting`/`PromotionTimeout` (traffic stays on the candidate meanwhile).
    public var promotionTimeoutSeconds: Int?
    public init(stableDeployment: String, canaryDeployment: String) {
        self.stableDeployment = stableDeployment
        self.canaryDeployment = canaryDeployment
    }
}

/// Exactly one of `virtualService` (Istio), `httpRoute` and `grpcRoute` (Gateway API).
public struct RoutingSpec: Codable, Sendable, Hashable {
    public var virtualService: VirtualServiceRef?
    /// Gateway API: the HTTPRoute whose rules' backendRefs weights Sextant sets (needs `services`).
    public var httpRoute: GatewayRouteRef?
    /// Gateway API: the GRPCRoute whose rules' backendRefs weights Sextant sets (needs `services`).
    public var grpcRoute: GatewayRouteRef?
    /// Host-level split: destinations are these Services. Exclusive with `destinationRule`.
    public var services: ServicePair?
    /// Subset-level split: destinations are subsets of one host. Exclusive with `services`; Istio only.
    public var destinationRule: DestinationRuleRef?
    public init(virtualService: VirtualServiceRef) { self.virtualService = virtualService }
    public init(httpRoute: GatewayRouteRef, services: ServicePair) {
        self.httpRoute = httpRoute
        self.services = services
    }
    public init(grpcRoute: GatewayRouteRef, services: ServicePair) {
        self.grpcRoute = grpcRoute
        self.services = services
    }

    /// The routing API this spec names (the first set, for a spec that validation refuses).
    /// `VirtualService fraud`, `HTTPRoute fraud`: the routing object, for messages and Events.
    public var objectLabel: String {
        let name = virtualService?.name ?? httpRoute?.name ?? grpcRoute?.name ?? ""
        return "\(api.rawValue) \(name)"
    }

    public var api: RoutingAPI {
        if virtualService != nil { return .istio }
        if grpcRoute != nil { return .grpcRoute }
        return .httpRoute
    }
}

public enum RoutingAPI: String, Sendable, Hashable, CaseIterable {
    case istio = "VirtualService"
    case httpRoute = "HTTPRoute"
    case grpcRoute = "GRPCRoute"
}

/// A Gateway API route the user owns, and the rules of it whose split Sextant owns.
public struct GatewayRouteRef: Codable, Sendable, Hashable {
    public var name: String
    /// Names of the rules whose backendRefs weights Sextant owns; empty means every rule (an
    /// unnamed rule can only be owned this way).
    public var rules: [String]?
    public init(name: String, rules: [String]? = nil) {
        self.name = name
        self.rules = rules
    }
}

public struct VirtualServiceRef: Codable, Sendable, Hashable {
    public var name: String
    /// Names of the HTTP routes whose weights Sextant owns; empty means every route.
    public var routes: [String]?
    public init(name: String, routes: [String]? = nil) {
        self.name = name
        self.routes = routes
    }
}

public struct ServicePair: Codable, Sendable, Hashable {
    public var stable: String
    public var canary: String
    public init(stable: String, canary: String) {
        self.stable = stable
        self.canary = canary
    }
}

public struct DestinationRuleRef: Codable, Sendable, Hashable {
    public var name: String
    public var host: String
    public var stableSubset: String?
    public var canarySubset: String?
    public init(name: String, host: String) {
        self.name = name
        self.host = host
    }
}

/// Exactly one field is set.
public struct RolloutStrategy: Codable, Sendable, Hashable {
    public var canary: CanaryStrategy?
    public var blueGreen: BlueGreenStrategy?
    public var shadow: ShadowStrategy?
    public var abTest: ABTestStrategy?
    public init(canary: CanaryStrategy? = nil, blueGreen: BlueGreenStrategy? = nil,
                shadow: ShadowStrategy? = nil, abTest: ABTestStrategy? = nil) {
        self.canary = canary
        self.blueGreen = blueGreen
        self.shadow = shadow
        self.abTest = abTest
    }
}

/// Either explicit `steps` (Argo Rollouts style) or `stepWeight`/`maxWeight` (Flagger style).
public struct CanaryStrategy: Codable, Sendable, Hashable {
    public var steps: [CanaryStep]?
    public var stepWeight: Int?
    public var maxWeight: Int?
    public init(steps: [CanaryStep]? = nil, stepWeight: Int? = nil, maxWeight: Int? = nil) {
        self.steps = steps
        self.stepWeight = stepWeight
        self.maxWeight = maxWeight
    }
}

/// Exactly one of `setWeight` and `pause`.
public struct CanaryStep: Codable, Sendable, Hashable {
    public var setWeight: Int?
    public var pause: PauseStep?
    public init(setWeight: Int? = nil, pause: PauseStep? = nil) {
        self.setWeight = setWeight
        self.pause = pause
    }
}

public struct PauseStep: Codable, Sendable, Hashable {
    /// Unset: wait for a `promote` request.
    public var duration: String?
    public init(duration: String? = nil) { self.duration = duration }
}

public struct BlueGreenStrategy: Codable, Sendable, Hashable {
    public var iterations: Int?
    public var autoPromote: Bool?
    public init() {}
}

public struct ShadowStrategy: Codable, Sendable, Hashable {
    public var mirrorPercent: Int?
    public var iterations: Int?
    public var autoPromote: Bool?
    public init() {}
}

public struct ABTestStrategy: Codable, Sendable, Hashable {
    public var match: [ABMatch]
    public var iterations: Int?
    public var autoPromote: Bool?
    public init(match: [ABMatch]) { self.match = match }
}

/// Exactly one of `header` and `cookie`.
public struct ABMatch: Codable, Sendable, Hashable {
    public var header: HeaderMatch?
    public var cookie: CookieMatch?
    public init(header: HeaderMatch? = nil, cookie: CookieMatch? = nil) {
        self.header = header
        self.cookie = cookie
    }
}

/// Exactly one of `exact`, `prefix` and `regex`.
public struct HeaderMatch: Codable, Sendable, Hashable {
    public var name: String
    public var exact: String?
    public var prefix: String?
    public var regex: String?
    public init(name: String, exact: String? = nil, prefix: String? = nil, regex: String? = nil) {
        self.name = name
        self.exact = exact
        self.prefix = prefix
        self.regex = regex
    }
}

public struct CookieMatch: Codable, Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct AnalysisSpec: Codable, Sendable, Hashable {
    public var interval: String?
    public var failureLimit: Int?
    public var consecutiveErrorLimit: Int?
    public var prometheus: PrometheusEndpoint?
    public var metrics: [AnalysisMetric]?
    /// Canary versus stable on the same traffic, with a statistical test (docs/canary.md#comparison).
    public var comparisons: [ComparisonMetric]?
    /// Shadow stage: candidate and stable prediction distributions compared by PSI (docs/canary.md#prediction-shift).
    public var predictionShift: PredictionShiftCheck?
    /// After promotion, `metrics` (and `Rollout` webhooks) keep running for this many intervals;
    /// failing checks within it roll back to the previous stable version (docs/canary.md#rollback-window).
    public var rollbackWindow: RollbackWindowSpec?
    /// Metrics checked on their own interval across all steps, from the first step to promotion;
    /// they never advance a step, a failure counts toward `failureLimit` (docs/canary.md#background-analysis).
    public var background: BackgroundAnalysis?
    /// Canary strategy: a user once sent to the canary keeps reaching it, by a cookie the
    /// canary's responses set (Flagger's `sessionAffinity`; docs/routing.md#session-affinity).
    public var sessionAffinity: SessionAffinity?
    public init() {}

    /// True when an analysis run has something to measure (webhooks aside).
    public var hasChecks: Bool { !(metrics ?? []).isEmpty || !(comparisons ?? []).isEmpty || predictionShift != nil }
}

/// Session affinity by cookie: the canary destination adds `Set-Cookie: <cookieName>=<value>;
/// Max-Age=<maxAge>` to its responses and a route of Sextant's sends requests carrying that
/// cookie to the canary, whatever the weights. Removed on promotion and rollback.
public struct SessionAffinity: Codable, Sendable, Hashable {
    /// An RFC 6265 cookie name (a token: no spaces, separators or control characters).
    public var cookieName: String
    /// Cookie lifetime in seconds; default 86400.
    public var maxAge: Int?
    public init(cookieName: String, maxAge: Int? = nil) {
        self.cookieName = cookieName
        self.maxAge = maxAge
    }

    public static let defaultMaxAge = 86400

    /// RFC 6265 `token` characters (RFC 7230 tchar): what a cookie name may contain.
    public static func isCookieToken(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }
}

/// Analysis that runs across steps (Argo Rollouts' background analysis), beside the per-step runs.
public struct BackgroundAnalysis: Codable, Sendable, Hashable {
    /// Time between two background runs; default: `analysis.interval`.
    public var interval: String?
    public var metrics: [AnalysisMetric]
    public init(metrics: [AnalysisMetric]) { self.metrics = metrics }
}

/// How long a promoted version stays on probation (managed serving only: Sextant keeps the
/// previous stable version's Deployment running until the window closes).
public struct RollbackWindowSpec: Codable, Sendable, Hashable {
    /// Analysis intervals after promotion during which `metrics` keep being checked.
    public var intervals: Int
    public init(intervals: Int) { self.intervals = intervals }
}

/// The population stability index between the candidate's and the stable version's predicted
/// scores (`sextant_prediction_score` histograms of both servers, same window). Above `maxPSI`
/// the check fails; fewer than `minSamples` predictions on either side holds the step.
public struct PredictionShiftCheck: Codable, Sendable, Hashable {
    /// The name of its measurement in `status.measurements`.
    public static let metricName = "predictionShift"
    /// Largest tolerated PSI (default 0.1).
    public var maxPSI: Double?
    /// Fewest predictions on each side before deciding (default 200).
    public var minSamples: Int?
    /// Window of both histograms; default: the analysis interval.
    public var interval: String?
    public init(maxPSI: Double? = nil) { self.maxPSI = maxPSI }
}

/// A success proportion measured for the stable version and the candidate on the same traffic and
/// compared with a one-sided non-inferiority test: the candidate fails when it is worse than
/// stable by more than `maxDegradation` at `confidence`. `test` picks a fixed-sample z-test per
/// interval or a sequential (always-valid) test over the rollout so far (docs/canary.md#comparison).
/// Exactly one of `template` and the pair `successQuery` + `totalQuery`.
public struct ComparisonMetric: Codable, Sendable, Hashable {
    public var name: String
    public var template: ComparisonTemplate?
    /// PromQL counting the good events of `{{ version }}` over `{{ interval }}`.
    public var successQuery: String?
    /// PromQL counting all events of `{{ version }}` over `{{ interval }}`.
    public var totalQuery: String?
    /// Largest tolerated drop of the candidate's proportion below stable's (0.01 = one point).
    public var maxDegradation: Double?
    /// 1 − α of the test: the candidate fails only when degradation is established at this confidence.
    public var confidence: Double?
    /// Fewest events on each side before a decision; fewer is no data, never a failure.
    public var minSamples: Int?
    /// Window used for `{{ interval }}`; default: the analysis interval. Not with `Sequential`,
    /// whose window is the rollout so far.
    public var interval: String?
    /// `Fixed` (default) or `Sequential`.
    public var test: ComparisonTest?
    public init(name: String, template: ComparisonTemplate? = nil) {
        self.name = name
        self.template = template
    }
}

/// How a comparison decides (docs/canary.md#comparison).
public enum ComparisonTest: String, Codable, Sendable, Hashable, CaseIterable {
    /// A one-sided two-proportion z-test on each interval's counts, repeated every interval.
    case fixed = "Fixed"
    /// A one-sided normal-mixture sequential test (mSPRT) on the counts since the rollout
    /// started, valid under continuous monitoring: fails once degradation beyond the margin is
    /// established, passes once non-inferiority is, holds the step until then.
    case sequential = "Sequential"
}

/// Built-in success/total pairs over the metrics `sextant-server` exports.
public enum ComparisonTemplate: String, Codable, Sendable, Hashable, CaseIterable {
    /// Non-5xx inference requests of all requests.
    case successRate = "SuccessRate"
    /// Correct predictions of the labelled rows (feedback labels).
    case modelAccuracy = "ModelAccuracy"
}

/// Exactly one of `template` and `query`.
public struct AnalysisMetric: Codable, Sendable, Hashable {
    public var name: String
    public var template: MetricTemplate?
    public var query: String?
    public var thresholdRange: ThresholdRange
    /// Window used for `{{ interval }}`; default: the analysis interval.
    public var interval: String?
    public var noDataPolicy: NoDataPolicy?
    public init(name: String, template: MetricTemplate? = nil, query: String? = nil, thresholdRange: ThresholdRange) {
        self.name = name
        self.template = template
        self.query = query
        self.thresholdRange = thresholdRange
    }
}

/// Built-in queries over the metrics `sextant-server` exports.
public enum MetricTemplate: String, Codable, Sendable, Hashable, CaseIterable {
    case successRate = "SuccessRate", latencyP99 = "LatencyP99", modelAccuracy = "ModelAccuracy"
    /// A regression model's root mean squared error on feedback labels.
    case modelRMSE = "ModelRMSE"
}

public struct ThresholdRange: Codable, Sendable, Hashable {
    public var min: Double?
    public var max: Double?
    public init(min: Double? = nil, max: Double? = nil) {
        self.min = min
        self.max = max
    }
}

/// What an empty result (or NaN) counts as.
public enum NoDataPolicy: String, Codable, Sendable, Hashable, CaseIterable {
    /// A failed check (counts toward `failureLimit`). Safe default: no evidence is not health.
    case fail = "Fail"
    /// A passed check (for metrics that are legitimately absent at low traffic).
    case pass = "Pass"
    /// A query error (counts toward `consecutiveErrorLimit`, holds the rollout).
    case error = "Error"
    /// Neither: the metric is skipped this interval.
    case ignore = "Ignore"
}

public struct RolloutWebhook: Codable, Sendable, Hashable {
    public var name: String
    public var type: WebhookType
    public var url: String
    public var timeout: String?
    public var retries: Int?
    public var metadata: [String: String]?
    /// A Secret in the rollout's namespace with `token` or `username`/`password` (sent with each
    /// call) and/or `ca.crt` (verifies an https `url`); the keys of `PrometheusEndpoint.secretRef`.
    public var secretRef: SecretReference?
    public init(name: String, type: WebhookType, url: String) {
        self.name = name
        self.type = type
        self.url = url
    }
}

public enum WebhookType: String, Codable, Sendable, Hashable, CaseIterable {
    /// Before any traffic moves; non-2xx aborts the rollout.
    case preRollout = "PreRollout"
    /// At every analysis interval, as a check; non-2xx is a failed check.
    case rollout = "Rollout"
    /// Before promotion; non-2xx holds the rollout (a gate).
    case confirmPromotion = "ConfirmPromotion"
    /// Before each increase of the canary weight; non-2xx holds the weight (a gate, asked again
    /// once per interval), as Flagger's `confirm-traffic-increase`.
    case confirmTrafficIncrease = "ConfirmTrafficIncrease"
    /// After promotion; informational.
    case postRollout = "PostRollout"
    /// After a rollback; informational.
    case rollback = "Rollback"
}
