import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator

/// The Deployments that serve a rollout's versions: one `sextant-server` Deployment per version
/// (`<rollout>-<version>`) for managed serving, the user's two Deployments for external serving.
public enum RolloutServing {
    public static let deployments = ResourceDescriptor(group: "apps", version: "v1", plural: "deployments",
                                                       kind: "Deployment", namespaced: true)

    public static func deploymentName(rollout: String, version: String) -> String {
        let name = "\(rollout)-\(version)"
        return name.count <= 253 ? name : String(name.prefix(253))
    }

    /// The managed Deployment of `version`: the user's pod template under Sextant's container,
    /// labels and model arguments. Pods carry `mlops.sextant.dev/model-version`, which the
    /// DestinationRule subsets or Service selectors point at.
    public static func deployment(for rollout: CanaryRollout, version: ModelVersion, image: String) throws -> JSONValue {
        let managed = rollout.spec.serving.managed ?? ManagedServing()
        let rolloutName = rollout.metadata.name ?? ""
        let versionName = version.metadata.name ?? ""
        let port = managed.port ?? 8080
        let labels: [String: String] = [
            SextantLabel.canaryRollout: rolloutName,
            SextantLabel.model: rollout.spec.modelName,
            SextantLabel.modelVersion: versionName,
        ]
        var args = ["--model-uri", version.spec.artifact.uri, "--model-name", rollout.spec.modelName,
                    "--model-version", versionName, "--listen", "0.0.0.0:\(port)"]
        if let sha = version.spec.artifact.sha256 { args += ["--model-sha256", sha] }
        // The server's gRPC service listens on 8081 by default (KServe's); an HTTP port of 8081 moves it.
        let grpcPort = grpcPort(httpPort: port)
        if grpcPort != defaultGRPCPort { args += ["--grpc-port", String(grpcPort)] }

        var container: [String: JSONValue] = [
            "name": "sextant-server",
            "image": .string(managed.image ?? image),
            "args": .array(args.map(JSONValue.string)),
            "ports": [["name": "http", "containerPort": .int(Int64(port)), "protocol": "TCP"],
                      ["name": "grpc", "containerPort": .int(Int64(grpcPort)), "protocol": "TCP"]],
            "readinessProbe": ["httpGet": ["path": "/v2/health/ready", "port": .int(Int64(port))],
                               "periodSeconds": 5, "failureThreshold": 3],
            "livenessProbe": ["httpGet": ["path": "/v2/health/live", "port": .int(Int64(port))],
                              "periodSeconds": 10, "failureThreshold": 6],
        ]
        if let resources = managed.resources { container["resources"] = try JSONValue(encoding: resources) }

        // The user's template is the base; Sextant's labels and its container win.
        var template: JSONValue = managed.template?.objectValue.map(JSONValue.object) ?? [:]
        var templateMeta = template["metadata"]?.objectValue ?? [:]
        var podLabels = templateMeta["labels"]?.objectValue ?? [:]
        for (k, v) in labels { podLabels[k] = .string(v) }
        templateMeta["labels"] = .object(podLabels)
        template["metadata"] = .object(templateMeta)
        var podSpec = template["spec"]?.objectValue ?? [:]
        var containers = podSpec["containers"]?.arrayValue ?? []
        if let index = containers.firstIndex(where: { $0["name"]?.stringValue == "sextant-server" }) {
            var merged = containers[index].objectValue ?? [:]
            for (k, v) in container { merged[k] = v }
            containers[index] = .object(merged)
        } else {
            containers.insert(.object(container), at: 0)
        }
        podSpec["containers"] = .array(containers)
        template["spec"] = .object(podSpec)

        let owner = try OwnerReference(controlledBy: rollout)
        return [
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": [
                "name": .string(deploymentName(rollout: rolloutName, version: versionName)),
                "namespace": .string(rollout.metadata.namespace ?? ""),
                "labels": .object(labels.mapValues(JSONValue.string)),
                "ownerReferences": [try JSONValue(encoding: owner)],
            ],
            "spec": [
                "replicas": .int(Int64(managed.replicas ?? 2)),
                "selector": ["matchLabels": [SextantLabel.canaryRollout: .string(rolloutName),
                                             SextantLabel.modelVersion: .string(versionName)]],
                "template": template,
            ],
        ]
    }

    /// `sextant-server`'s default `--grpc-port`.
    public static let defaultGRPCPort = 8081

    /// The gRPC port of a server whose HTTP port is `httpPort`: 8081, or 8082 when HTTP takes 8081.
    public static func grpcPort(httpPort: Int) -> Int { httpPort == defaultGRPCPort ? defaultGRPCPort + 1 : defaultGRPCPort }

    /// Whether a Deployment serves with all its replicas (what `kubectl rollout status` checks).
    public static func readiness(of deployment: JSONValue?, name: String) -> ServingState {
        guard let deployment else { return .notReady("Deployment \(name) does not exist yet") }
        let wanted = deployment["spec"]?["replicas"]?.intValue ?? 1
        let generation = deployment["metadata"]?["generation"]?.intValue ?? 0
        let status = deployment["status"]
        let observed = status?["observedGeneration"]?.intValue ?? 0
        let updated = status?["updatedReplicas"]?.intValue ?? 0
        let available = status?["availableReplicas"]?.intValue ?? 0
        if wanted == 0 { return .notReady("Deployment \(name) is scaled to 0") }
        if observed < generation { return .notReady("Deployment \(name): generation \(generation) not observed yet") }
        if let progressing = status?["conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "Progressing" }),
           progressing["reason"]?.stringValue == "ProgressDeadlineExceeded" {
            return .notReady("Deployment \(name): ProgressDeadlineExceeded: \(progressing["message"]?.stringValue ?? "")")
        }
        guard updated >= wanted, available >= wanted else {
            return .notReady("Deployment \(name): \(available)/\(wanted) replicas available, \(updated) updated")
        }
        return .ready
    }
}
