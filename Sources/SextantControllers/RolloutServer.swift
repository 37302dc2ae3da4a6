import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

/// The serving half of a rollout, beside the `Router`: the Deployments that serve its versions
/// (created and updated by fingerprint, scaled down once due) or the user's own pair (external
/// serving), and whether the version being rolled out serves. Deployments are watched, so
/// readiness comes from the caches; writes go through SextantKube's typed verbs.
struct RolloutServer: Sendable {
    let client: KubeClient
    let serverImage: String
    let modelVersions: Cache<DynamicObject>
    let deployments: Cache<DynamicObject>
    /// Every Deployment, slim (external serving reads readiness from here, woken by its watch).
    let servingDeployments: Cache<ServingDeployment>?
    let logger: Logger

    static let specHashAnnotation = SextantGroup.labelPrefix + "spec-hash"

    /// Ensures the Deployments of the versions the status needs, scales the others down once
    /// due, and returns whether the version being rolled out serves.
    func serve(_ rollout: CanaryRollout, status: CanaryRolloutStatus, now: Date) async throws -> ServingState {
        let namespace = rollout.metadata.namespace ?? ""
        let rolloutName = rollout.metadata.name ?? ""
        let needed = CanaryMachine.versionsToServe(status: status)
        let scaleDownDue = status.scaleDownTime.flatMap(KubeTime.parse).map { now >= $0 } ?? true

        if let external = rollout.spec.serving.external {
            let canaryObject = try await externalDeployment(external.canaryDeployment, namespace: namespace)
            let replicas = canaryObject?["spec"]?["replicas"]?.intValue
            if CanaryMachine.isActive(status), replicas == 0, external.scaleDown == true {
                let stable = try await externalDeployment(external.stableDeployment, namespace: namespace)
                let target = max(1, stable?["spec"]?["replicas"]?.intValue ?? 1)
                try await scale(external.canaryDeployment, namespace: namespace, to: target)
            } else if !CanaryMachine.isActive(status), scaleDownDue, external.scaleDown == true, (replicas ?? 0) > 0 {
                try await scale(external.canaryDeployment, namespace: namespace, to: 0)
            }
            guard CanaryMachine.isActive(status) else { return .ready }
            return RolloutServing.readiness(of: canaryObject, name: external.canaryDeployment)
        }

        let owned = deployments.list(labels: [SextantLabel.canaryRollout: rolloutName], namespace: namespace)
        for version in needed.sorted() {
            guard let object = modelVersions.get(namespace: namespace, name: version),
                  let mv = try? object.raw.decode(as: ModelVersion.self) else { continue }
            let desired = try RolloutServing.deployment(for: rollout, version: mv, image: serverImage)
            try await ensure(desired, namespace: namespace)
        }
        for deployment in owned {
            guard let version = deployment.metadata.labels?[SextantLabel.modelVersion], !needed.contains(version),
                  scaleDownDue, (deployment.raw["spec"]?["replicas"]?.intValue ?? 1) > 0,
                  let name = deployment.metadata.name else { continue }
            try await scale(name, namespace: namespace, to: 0)
            logger.info("scaled down \(namespace)/\(name): \(version) no longer serves for \(rolloutName)")
        }
        guard CanaryMachine.isActive(status), let canary = status.canaryVersion else { return .ready }
        let name = RolloutServing.deploymentName(rollout: rolloutName, version: canary)
        guard modelVersions.get(namespace: namespace, name: canary) != nil else {
            return .notReady("ModelVersion \(canary) not found")
        }
        return RolloutServing.readiness(of: deployments.get(namespace: namespace, name: name)?.raw, name: name)
    }

    /// External serving while promoting: whether the user's stable Deployment runs the candidate.
    func stableUpdate(_ rollout: CanaryRollout, status: CanaryRolloutStatus) async -> StableUpdateState {
        guard let external = rollout.spec.serving.external,
              CanaryMachine.resumed(status).phase == .promoting, let candidate = status.canaryVersion else { return .notApplicable }
        let namespace = rollout.metadata.namespace ?? ""
        let deployment: ServingDeployment?
        if let cache = servingDeployments {
            deployment = cache.get(namespace: namespace, name: external.stableDeployment)
        } else {
            deployment = try? await getDeployment(external.stableDeployment, namespace: namespace)
                .flatMap { try? $0.decode(as: ServingDeployment.self) }
        }
        return RolloutServing.stableUpdate(of: deployment, external: external, candidate: candidate)
    }

    /// Creates the Deployment, or updates it when Sextant's part of it changed (by fingerprint,
    /// so server-side defaults never cause a write).
    func ensure(_ desired: JSONValue, namespace: String) async throws {
        guard let name = desired["metadata"]?["name"]?.stringValue, let spec = desired["spec"] else { return }
        let fingerprint = Self.fingerprint(spec)
        var object = desired
        object["metadata"]?["annotations"] = [Self.specHashAnnotation: .string(fingerprint)]
        guard let existing = deployments.get(namespace: namespace, name: name) else {
            do {
                let _: JSONValue = try await client.create(RolloutServing.deployments, object, namespace: namespace)
            } catch let error as KubeError where error.reason == .alreadyExists {
                // Created by an earlier pass whose watch event has not arrived yet.
            }
            return
        }
        // Replicas are compared too: a version scaled to 0 earlier (rolled back, then retried) serves again.
        if existing.metadata.annotations?[Self.specHashAnnotation] == fingerprint,
           existing.raw["spec"]?["replicas"] == spec["replicas"] { return }
        let patch: JSONValue = [
            "metadata": ["annotations": [Self.specHashAnnotation: .string(fingerprint)],
                         "resourceVersion": .string(existing.metadata.resourceVersion ?? "")],
            "spec": desired["spec"] ?? [:],
        ]
        let _: JSONValue = try await client.patch(RolloutServing.deployments, name: name, .merge(patch), namespace: namespace)
    }

    func scale(_ name: String, namespace: String, to replicas: Int64) async throws {
        let _: JSONValue = try await client.patch(RolloutServing.deployments, name: name,
                                                  .merge(["spec": ["replicas": .int(replicas)]]), namespace: namespace)
    }

    /// A user's Deployment from the watch cache (a GET when the reconciler runs without one).
    func externalDeployment(_ name: String, namespace: String) async throws -> JSONValue? {
        if let cache = servingDeployments { return cache.get(namespace: namespace, name: name)?.json }
        return try await getDeployment(name, namespace: namespace)
    }

    func getDeployment(_ name: String, namespace: String) async throws -> JSONValue? {
        do {
            return try await client.get(RolloutServing.deployments, name: name, namespace: namespace, as: JSONValue.self)
        } catch let error as KubeError where error.reason == .notFound {
            return nil
        }
    }

    /// FNV-1a over the canonical JSON: stable across processes (Swift's Hasher is seeded).
    static func fingerprint(_ value: JSONValue) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in value.serialized(sortedKeys: true) {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
