import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKubeTypes

/// What the controller keeps of any Deployment for external serving: readiness and the pod
/// template's labels, nothing else (no containers, no annotations such as kubectl's
/// last-applied-configuration), so watching every Deployment stays small.
public struct ServingDeployment: KubernetesObject, Hashable {
    public struct Spec: Codable, Sendable, Hashable {
        public struct Template: Codable, Sendable, Hashable {
            public struct Meta: Codable, Sendable, Hashable { public var labels: [String: String]? }
            public var metadata: Meta?
        }
        public var replicas: Int64?
        public var template: Template?
    }

    public struct Status: Codable, Sendable, Hashable {
        public struct Condition: Codable, Sendable, Hashable {
            public var type: String?
            public var reason: String?
            public var message: String?
        }
        public var observedGeneration: Int64?
        public var replicas: Int64?
        public var updatedReplicas: Int64?
        public var availableReplicas: Int64?
        public var conditions: [Condition]?
    }

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        metadata = try c.decode(ObjectMeta.self, forKey: .metadata)
        metadata.annotations = nil
        spec = try c.decodeIfPresent(Spec.self, forKey: .spec)
        status = try c.decodeIfPresent(Status.self, forKey: .status)
    }

    /// The JSON shape `RolloutServing.readiness` reads.
    public var json: JSONValue { (try? JSONValue(encoding: self)) ?? [:] }
}

extension RolloutServing {
    static let defaultVersionLabel = SextantLabel.modelVersion

    /// External serving: whether `stableDeployment` runs `candidate` (its pod template's version
    /// label names it) and has rolled out with all its replicas.
    public static func stableUpdate(of deployment: ServingDeployment?, external: ExternalServing,
                                    candidate: String) -> StableUpdateState {
        let name = external.stableDeployment
        guard let deployment else { return .pending("Deployment \(name) does not exist") }
        let label = external.versionLabel ?? defaultVersionLabel
        let runs = deployment.spec?.template?.metadata?.labels?[label]
        guard runs == candidate else {
            return .pending("its pod template has \(label)=\(runs ?? "<unset>")")
        }
        switch readiness(of: deployment.json, name: name) {
        case .ready: return .done
        case .notReady(let why): return .pending(why)
        }
    }
}
