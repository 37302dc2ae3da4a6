import SextantJSON
import SextantKubeTypes

/// The API group of the three kinds.
public enum SextantGroup {
    public static let name = "mlops.sextant.dev"
    public static let version = "v1alpha1"
    public static let category = "sextant"
    /// Prefix of Sextant's labels and annotations.
    public static let labelPrefix = "mlops.sextant.dev/"
}

/// One problem found by a kind's `validate()`, in the shape of a Kubernetes `field.Error`.
/// The API server evaluates the CEL rules of the CRD; the development API server does not, so the
/// controllers run these checks too and put the result on a condition.
public struct FieldError: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case required = "Required"
        case invalid = "Invalid"
        case notSupported = "NotSupported"
        case forbidden = "Forbidden"
        case duplicate = "Duplicate"
    }

    /// A field path such as `spec.strategy.canary.steps[2].setWeight`.
    public var path: String
    public var kind: Kind
    public var message: String

    public init(_ path: String, _ kind: Kind, _ message: String) {
        self.path = path
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(path): \(kind.rawValue): \(message)" }

    /// Turns a decoding failure (unknown enum value, wrong type, missing field) into a field error
    /// naming the path, so a bad object gets a condition instead of being silently skipped.
    public static func decoding(_ error: any Error) -> FieldError {
        func render(_ path: [any CodingKey]) -> String {
            path.reduce(into: "") { out, key in
                if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
            }
        }
        guard let error = error as? DecodingError else {
            return FieldError("", .invalid, "\(error)")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return FieldError(render(context.codingPath), .invalid, "expected \(type): \(context.debugDescription)")
        case .valueNotFound(_, let context):
            return FieldError(render(context.codingPath), .required, "must not be null")
        case .keyNotFound(let key, let context):
            return FieldError(render(context.codingPath + [key]), .required, "must be set")
        case .dataCorrupted(let context):
            return FieldError(render(context.codingPath), .notSupported, context.debugDescription)
        @unknown default:
            return FieldError("", .invalid, "\(error)")
        }
    }
}

/// Condition types and reasons shared by the controllers and documented in the CRDs.
public enum ConditionType {
    /// The spec is valid and the object is being reconciled normally.
    public static let ready = "Ready"
    /// TrainingJob: a run is in progress. CanaryRollout: a rollout is in progress.
    public static let running = "Running"
    public static let progressing = "Progressing"
    public static let succeeded = "Succeeded"
    /// TrainingJob: the last run failed.
    public static let degraded = "Degraded"
    /// ModelVersion: approval decided.
    public static let approved = "Approved"
    /// ModelVersion: served by a CanaryRollout.
    public static let serving = "Serving"
    /// CanaryRollout: the candidate was promoted.
    public static let promoted = "Promoted"
    /// CanaryRollout: VirtualService and routes found and patched.
    public static let routingReady = "RoutingReady"
}

public enum ConditionReason {
    /// `validate()` (or decoding) found errors; the message lists them.
    public static let invalidSpec = "InvalidSpec"
    public static let reconciled = "Reconciled"
}

/// Label and annotation keys Sextant puts on the objects it creates.
public enum SextantLabel {
    public static let model = SextantGroup.labelPrefix + "model"
    public static let modelVersion = SextantGroup.labelPrefix + "model-version"
    public static let trainingJob = SextantGroup.labelPrefix + "training-job"
    public static let run = SextantGroup.labelPrefix + "run"
    public static let canaryRollout = SextantGroup.labelPrefix + "canary-rollout"
    /// `stable` or `canary`: the role of a served version's Deployment/Pods.
    public static let role = SextantGroup.labelPrefix + "role"
}

/// A Kubernetes resource quantity, kept in the form it was written (`2`, `"500m"`, `"4Gi"`).
public enum Quantity: Codable, Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }
}

/// `corev1.ResourceRequirements` (requests and limits only).
public struct ResourceRequirements: Codable, Sendable, Hashable {
    public var requests: [String: Quantity]?
    public var limits: [String: Quantity]?
    public init(requests: [String: Quantity]? = nil, limits: [String: Quantity]? = nil) {
        self.requests = requests
        self.limits = limits
    }
}

/// A plain environment variable.
public struct EnvVar: Codable, Sendable, Hashable {
    public var name: String
    public var value: String?
    public init(name: String, value: String? = nil) {
        self.name = name
        self.value = value
    }
}

/// A reference to a Secret in the object's namespace.
public struct SecretReference: Codable, Sendable, Hashable {
    public var name: String
    public init(name: String) { self.name = name }
}

/// Where and as whom a Pod runs: resources, service account, node selection.
public struct PodPlacement: Codable, Sendable, Hashable {
    public var resources: ResourceRequirements?
    public var serviceAccountName: String?
    public var nodeSelector: [String: String]?
    /// `[]corev1.Toleration`, passed through unchanged.
    public var tolerations: [JSONValue]?
    /// `corev1.Affinity`, passed through unchanged.
    public var affinity: JSONValue?
    public var priorityClassName: String?
    public var env: [EnvVar]?

    public init(resources: ResourceRequirements? = nil, serviceAccountName: String? = nil,
                nodeSelector: [String: String]? = nil) {
        self.resources = resources
        self.serviceAccountName = serviceAccountName
        self.nodeSelector = nodeSelector
    }
}

/// A manual request written into a resource's `status.requests` (by `sextant` CLI or
/// `kubectl patch --subresource=status`), acknowledged by the controller, which clears it.
///
/// Why status and not spec: a request is an event, not desired state. Keeping it out of `spec`
/// means no generation bump, no drift for GitOps tools that own the spec, and RBAC can grant
/// "may promote/abort" (`<plural>/status` patch) without granting "may edit the rollout".
public struct ManualRequest: Codable, Sendable, Hashable {
    /// When the request was made (RFC 3339). The controller acts on each distinct time once.
    public var requestedAt: String
    /// Who asked (user name), for the audit trail.
    public var requestedBy: String?
    /// Why, shown in the Event and condition message.
    public var reason: String?

    public init(requestedAt: String, requestedBy: String? = nil, reason: String? = nil) {
        self.requestedAt = requestedAt
        self.requestedBy = requestedBy
        self.reason = reason
    }
}

extension Schema {
    static func manualRequest(_ description: String) -> Schema {
        .object(description, required: ["requestedAt"], [
            "requestedAt": .time("When the request was made; each distinct value is acted on once."),
            "requestedBy": .string("Who made the request (user name), for the audit trail.", maxLength: 253),
            "reason": .string("Why; copied into the Event and condition message.", maxLength: 1024),
        ])
    }

    static let resourceRequirements: Schema = .object(
        "Compute resources (corev1.ResourceRequirements: requests and limits).", [
            "requests": .map("Minimum resources, e.g. `cpu: 500m`, `memory: 2Gi`.",
                             of: .quantity("A resource quantity.")),
            "limits": .map("Maximum resources, e.g. `cpu: \"2\"`, `memory: 4Gi`, `nvidia.com/gpu: 1`.",
                           of: .quantity("A resource quantity.")),
        ])

    static let env: Schema = .array(
        "Extra environment variables.",
        of: .object("An environment variable.", required: ["name"], [
            "name": .string("Variable name.", pattern: "^[-._a-zA-Z][-._a-zA-Z0-9]*$", sample: "LOG_LEVEL"),
            "value": .string("Variable value."),
        ]), maxItems: 64, listType: "map", mapKeys: ["name"])

    static func podPlacement(_ description: String) -> Schema {
        .object(description, [
            "resources": .resourceRequirements,
            "serviceAccountName": .objectName("ServiceAccount the Pod runs as (default: the namespace's `default`)."),
            "nodeSelector": .map("Node labels the Pod must be scheduled on.", of: .string("Label value.")),
            "tolerations": .array("corev1.Toleration list, passed to the Pod unchanged.",
                                  of: .freeform("A corev1.Toleration.", docType: "Toleration"), maxItems: 32),
            "affinity": .freeform("corev1.Affinity, passed to the Pod unchanged.", docType: "Affinity"),
            "priorityClassName": .objectName("PriorityClass of the Pod."),
            "env": .env,
        ])
    }

    static let secretReference: Schema = .object(
        "A Secret in the same namespace.", required: ["name"], ["name": .objectName("Secret name.")])
}
