import Foundation
import SextantJSON

// The parts of `v1.PodSpec` the local node reads. Every field is optional so that a Pod with
// missing fields still decodes; a wrong type is reported with the field path.

struct PodSpecModel: Decodable, Sendable {
    var containers: [ContainerModel]?
    var initContainers: [JSONValue]?
    var volumes: [VolumeModel]?
    var restartPolicy: String?
    var terminationGracePeriodSeconds: Int64?
    var activeDeadlineSeconds: Int64?
    var nodeName: String?
    var serviceAccountName: String?
}

struct ContainerModel: Decodable, Sendable {
    var name: String
    var image: String?
    var command: [String]?
    var args: [String]?
    var env: [EnvVarModel]?
    var envFrom: [EnvFromModel]?
    var workingDir: String?
    var volumeMounts: [VolumeMountModel]?
    var readinessProbe: ProbeModel?
    var livenessProbe: ProbeModel?
    var resources: ResourcesModel?
    var ports: [PortModel]?
    var terminationMessagePath: String?
    var terminationMessagePolicy: String?
}

struct ResourcesModel: Decodable, Sendable {
    /// Quantities are strings (`512Mi`) or numbers.
    var limits: [String: JSONValue]?
    var requests: [String: JSONValue]?
}

struct EnvVarModel: Decodable, Sendable {
    var name: String
    var value: String?
    var valueFrom: EnvVarSource?
}

struct EnvVarSource: Decodable, Sendable {
    struct FieldRef: Decodable, Sendable { var fieldPath: String }
    struct KeyRef: Decodable, Sendable {
        var name: String?
        var key: String
        var optional: Bool?
    }
    var fieldRef: FieldRef?
    var configMapKeyRef: KeyRef?
    var secretKeyRef: KeyRef?
    var resourceFieldRef: JSONValue?
}

struct EnvFromModel: Decodable, Sendable {
    struct Ref: Decodable, Sendable {
        var name: String?
        var optional: Bool?
    }
    var prefix: String?
    var configMapRef: Ref?
    var secretRef: Ref?
}

struct VolumeMountModel: Decodable, Sendable {
    var name: String
    var mountPath: String
    var subPath: String?
    var readOnly: Bool?
}

struct KeyToPath: Decodable, Sendable {
    var key: String
    var path: String
    var mode: Int?
}

struct VolumeModel: Decodable, Sendable {
    struct ConfigMapSource: Decodable, Sendable {
        var name: String?
        var items: [KeyToPath]?
        var optional: Bool?
        var defaultMode: Int?
    }
    struct SecretSource: Decodable, Sendable {
        var secretName: String?
        var items: [KeyToPath]?
        var optional: Bool?
        var defaultMode: Int?
    }
    struct HostPathSource: Decodable, Sendable { var path: String }
    struct ClaimSource: Decodable, Sendable { var claimName: String }

    var name: String
    var configMap: ConfigMapSource?
    var secret: SecretSource?
    var emptyDir: JSONValue?
    var hostPath: HostPathSource?
    var persistentVolumeClaim: ClaimSource?

    /// The keys of this object, to name an unsupported volume type.
    static let supportedTypes = ["configMap", "secret", "emptyDir", "hostPath", "persistentVolumeClaim"]
}

struct ProbeModel: Decodable, Sendable {
    struct HTTPGet: Decodable, Sendable {
        var path: String?
        var port: JSONValue?
        var scheme: String?
    }
    var httpGet: HTTPGet?
    var exec: JSONValue?
    var tcpSocket: JSONValue?
    var grpc: JSONValue?
    var initialDelaySeconds: Int?
    var periodSeconds: Int?
    var timeoutSeconds: Int?
    var successThreshold: Int?
    var failureThreshold: Int?
}

struct PortModel: Decodable, Sendable {
    var name: String?
    var containerPort: Int?
}

/// `spec.containers[0].args: expected String, found integer` from a decoding error.
func describeDecodingError(_ error: any Error, root: String) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        var text = root
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += "." + key.stringValue }
        }
        return text
    }
    switch error as? DecodingError {
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(path(context.codingPath)): \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "\(path(context.codingPath + [key])): required field is missing"
    default:
        return "\(root): \(error)"
    }
}

extension JSONValue {
    /// The object's `metadata.<key>` string.
    func meta(_ key: String) -> String? { self[path: ["metadata", key]]?.stringValue }
    var name: String { meta("name") ?? "" }
    var namespace: String { meta("namespace") ?? "" }
    var uid: String { meta("uid") ?? "" }
    var resourceVersion: String { meta("resourceVersion") ?? "" }
    var isDeleting: Bool { self[path: ["metadata", "deletionTimestamp"]]?.stringValue != nil }
    var labels: [String: String] {
        (self[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues { $0.stringValue }
    }
    var annotations: [String: String] {
        (self[path: ["metadata", "annotations"]]?.objectValue ?? [:]).compactMapValues { $0.stringValue }
    }

    /// The uid of the controlling owner of this kind, if any.
    func controllerUID(kind: String) -> String? {
        for owner in self[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        where owner["kind"]?.stringValue == kind && owner["controller"]?.boolValue == true {
            return owner["uid"]?.stringValue
        }
        return nil
    }
}
