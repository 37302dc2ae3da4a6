import Foundation
import SextantJSON
import SextantKubeTypes

/// What the Deployment controller remembers between passes to notice progress.
struct DeploymentProgress: Sendable, Equatable {
    var generation: Int64
    var updated: Int
    var ready: Int
    var available: Int
}

/// The Deployment controller without ReplicaSets: it owns `spec.replicas` Pods directly, labelled
/// with the template's `pod-template-hash`; a changed template replaces every Pod at once.
extension LocalNode {
    static let templateHashLabel = "pod-template-hash"

    func syncDeployment(_ deployment: JSONValue) async {
        guard !deployment.isDeleting else { return }
        let spec = deployment["spec"] ?? .object([:])
        let template = spec["template"] ?? .object([:])
        let desired = max(Int(spec["replicas"]?.intValue ?? 1), 0)
        let hash = LocalNode.templateHash(template)
        let paused = spec["paused"]?.boolValue == true
        var pods = objects(.pod).filter { $0.controllerUID(kind: "Deployment") == deployment.uid && !$0.isDeleting }

        // Finished pods (a failed start, a node restart) are replaced; so are pods of an older
        // template unless the rollout is paused.
        for pod in pods where LocalNode.isFinished(pod) || (!paused && pod.labels[LocalNode.templateHashLabel] != hash) {
            await delete(.pod, pod)
        }
        pods = pods.filter { !LocalNode.isFinished($0) && (paused || $0.labels[LocalNode.templateHashLabel] == hash) }
        if pods.count > desired {
            // Scale down: pods that are not ready go first, then the newest.
            let ordered = pods.sorted { a, b in
                let ra = LocalNode.isReady(a), rb = LocalNode.isReady(b)
                if ra != rb { return !ra }
                return (a.meta("creationTimestamp") ?? "") > (b.meta("creationTimestamp") ?? "")
            }
            for pod in ordered.prefix(pods.count - desired) { await delete(.pod, pod) }
            pods = Array(ordered.dropFirst(pods.count - desired))
        }
        while pods.count < desired {
            guard let pod = await createPod(deploymentPod(deployment, template: template, hash: hash)) else { break }
            pods.append(pod)
        }

        let minReady = Double(spec["minReadySeconds"]?.intValue ?? 0)
        let now = Date()
        let updated = pods.filter { $0.labels[LocalNode.templateHashLabel] == hash }.count
        let ready = pods.filter(LocalNode.isReady)
        let available = ready.filter { pod in
            guard minReady > 0 else { return true }
            let since = (pod[path: ["status", "conditions"]]?.arrayValue ?? [])
                .first { $0["type"]?.stringValue == "Ready" }?["lastTransitionTime"]?.stringValue.flatMap(KubeTime.parse)
            return since.map { now.timeIntervalSince($0) >= minReady } ?? false
        }.count
        await writeDeploymentStatus(deployment, desired: desired, total: pods.count, updated: updated,
                                    ready: ready.count, available: available, hash: hash)
    }

    private func writeDeploymentStatus(_ deployment: JSONValue, desired: Int, total: Int, updated: Int, ready: Int,
                                       available: Int, hash: String) async {
        let old = deployment["status"] ?? .object([:])
        let generation = deployment[path: ["metadata", "generation"]]?.intValue ?? 1
        let now = Date()
        let nowText = KubeTime.format(now)
        let replicaSet = "\(deployment.name)-\(hash)"
        let previous = old["conditions"]?.arrayValue ?? []
        func previousCondition(_ type: String) -> JSONValue? { previous.first { $0["type"]?.stringValue == type } }

        let isAvailable = available >= desired
        var availableCondition: JSONValue = [
            "type": "Available", "status": isAvailable ? "True" : "False",
            "reason": isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
            "message": isAvailable ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
            "lastUpdateTime": .string(nowText), "lastTransitionTime": .string(nowText),
        ]
        if let before = previousCondition("Available"), before["status"] == availableCondition["status"] {
            availableCondition["lastTransitionTime"] = before["lastTransitionTime"]
            availableCondition["lastUpdateTime"] = before["lastUpdateTime"]
        }

        // Progress: a new generation or more updated/ready/available pods.
        let observed = DeploymentProgress(generation: generation, updated: updated, ready: ready, available: available)
        let key = deployment.uid
        let before = deploymentProgress[key]
        let progressed = before.map { b in
            b.generation != generation || updated > b.updated || ready > b.ready || available > b.available
        } ?? false
        deploymentProgress[key] = observed
        let complete = updated == desired && total == desired && available == desired
        let deadline = Double(deployment[path: ["spec", "progressDeadlineSeconds"]]?.intValue ?? 600)
        let oldProgressing = previousCondition("Progressing")
        let oldReason = oldProgressing?["reason"]?.stringValue
        // The deadline counts from the last progress, kept in the condition's lastUpdateTime so
        // that it survives a node restart.
        var lastProgress = oldProgressing?["lastUpdateTime"]?.stringValue.flatMap(KubeTime.parse) ?? now
        if oldProgressing == nil || progressed || oldReason == "NewReplicaSetAvailable"
            || old["observedGeneration"]?.intValue != generation {
            lastProgress = now
        }
        let (progressStatus, reason, message): (String, String, String)
        if complete {
            (progressStatus, reason, message) = ("True", "NewReplicaSetAvailable",
                                                 "ReplicaSet \"\(replicaSet)\" has successfully progressed.")
            if oldReason == "NewReplicaSetAvailable", let kept = oldProgressing?["lastUpdateTime"]?.stringValue.flatMap(KubeTime.parse) {
                lastProgress = kept
            }
        } else if now.timeIntervalSince(lastProgress) >= deadline {
            (progressStatus, reason, message) = ("False", "ProgressDeadlineExceeded",
                                                 "ReplicaSet \"\(replicaSet)\" has timed out progressing.")
        } else {
            (progressStatus, reason, message) = ("True", "ReplicaSetUpdated", "ReplicaSet \"\(replicaSet)\" is progressing.")
        }
        var progressing: JSONValue = [
            "type": "Progressing", "status": .string(progressStatus), "reason": .string(reason),
            "message": .string(message), "lastUpdateTime": .string(KubeTime.format(lastProgress)),
            "lastTransitionTime": .string(nowText),
        ]
        if let oldProgressing, oldProgressing["status"] == progressing["status"] {
            progressing["lastTransitionTime"] = oldProgressing["lastTransitionTime"]
        }

        var status: [String: JSONValue] = [
            "observedGeneration": .int(generation),
            "conditions": [availableCondition, progressing],
        ]
        // Zero counts are omitted, as the real API does.
        for (name, value) in [("replicas", total), ("updatedReplicas", updated), ("readyReplicas", ready),
                              ("availableReplicas", available), ("unavailableReplicas", max(desired - available, 0))]
        where value > 0 {
            status[name] = .int(Int64(value))
        }
        let new = JSONValue.object(status)
        if new != old { await writeStatus(.deployment, deployment, new) }
    }

    private func deploymentPod(_ deployment: JSONValue, template: JSONValue, hash: String) -> JSONValue {
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels[LocalNode.templateHashLabel] = .string(hash)
        var metadata: [String: JSONValue] = [
            "name": .string(String(deployment.name.prefix(46)) + "-\(hash)-" + LocalNode.randomSuffix()),
            "namespace": .string(deployment.namespace),
            "labels": .object(labels),
            "ownerReferences": [["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(deployment.name),
                                 "uid": .string(deployment.uid), "controller": true, "blockOwnerDeletion": true]],
        ]
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": .object(metadata),
                "spec": template["spec"] ?? .object([:])]
    }

    /// FNV-1a of the template's canonical JSON, encoded like Kubernetes' `pod-template-hash`.
    static func templateHash(_ template: JSONValue) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in template.jsonString(sortedKeys: true).utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(hash).map { alphabet[Int($0.asciiValue ?? 0) % alphabet.count] })
    }
}
