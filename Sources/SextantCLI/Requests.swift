import ArgumentParser
import Foundation
import SextantAPI
import SextantJSON
import SextantKube
import SextantKubeTypes

/// The manual requests: each writes `status.requests.<verb> = {requestedAt, requestedBy, reason}`
/// with a merge patch on the status subresource (no generation bump, nothing for GitOps to
/// revert; RBAC on `<plural>/status`). The controller acts on each `requestedAt` once.
enum StatusRequest {
    static func send(kind: (descriptor: ResourceDescriptor, singular: String), verb: String, field: String, name: String,
                     reason: String?, cluster: ClusterOptions) async throws {
        let client = try cluster.client()
        let namespace = cluster.namespace(for: client)
        var request: [String: JSONValue] = ["requestedAt": .string(timestamp(Date())),
                                            "requestedBy": .string(requester(kubeconfigUser: client.config.userName))]
        request["reason"] = reason.map(JSONValue.string)
        let patch = JSONValue.object(["status": .object(["requests": .object([field: .object(request)])])])
        do {
            // Existence first: a merge patch on a missing object is a 404 too, but this names it plainly.
            let _: DynamicObject = try await client.get(kind.descriptor, name: name, namespace: namespace)
            let _: DynamicObject = try await client.patch(kind.descriptor, name: name, .merge(patch), namespace: namespace,
                                                          subresource: "status")
        } catch where error.isKube(.notFound) {
            throw CLIFailure("Error from server (NotFound): \(kind.descriptor.plural).\(kind.descriptor.group) \"\(name)\" not found in namespace \(namespace)")
        }
        print("\(kind.singular).\(kind.descriptor.group)/\(name) \(verb) requested")
    }

    /// RFC 3339 with milliseconds, so two requests in one second are distinct.
    static func timestamp(_ date: Date) -> String { KubeTime.format(date, fractionDigits: 3) }

    /// Who asked: `$SEXTANT_USER` when set (bots, CI), else the kubeconfig user of the context
    /// (the `users[].name` entry, as `kubectl config view --minify` shows it), else the login name
    /// (`$USER`, `$LOGNAME`; in-cluster without a kubeconfig), else `unknown`.
    static func requester(kubeconfigUser: String?,
                          environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let candidates = [environment["SEXTANT_USER"], kubeconfigUser, environment["USER"], environment["LOGNAME"]]
        return candidates.compactMap { $0 }.first { !$0.isEmpty } ?? "unknown"
    }

    static let modelVersion = (ResourceDescriptor(ModelVersion.self), "modelversion")
    static let trainingJob = (ResourceDescriptor(TrainingJob.self), "trainingjob")
    static let canaryRollout = (ResourceDescriptor(CanaryRollout.self), "canaryrollout")
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Approve a ModelVersion (writes status.requests.approve).")
    @Argument(help: "ModelVersion name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(kind: StatusRequest.modelVersion, verb: "approve", field: "approve", name: name, reason: reason, cluster: cluster)
    }
}

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reject a ModelVersion for good (writes status.requests.reject).")
    @Argument(help: "ModelVersion name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(kind: StatusRequest.modelVersion, verb: "reject", field: "reject", name: name, reason: reason, cluster: cluster)
    }
}

struct Retrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a run of a TrainingJob now (writes status.requests.run).")
    @Argument(help: "TrainingJob name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(kind: StatusRequest.trainingJob, verb: "retrain", field: "run", name: name, reason: reason, cluster: cluster)
    }
}

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Promote a CanaryRollout's candidate now (writes status.requests.promote).")
    @Argument(help: "CanaryRollout name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(kind: StatusRequest.canaryRollout, verb: "promote", field: "promote", name: name, reason: reason, cluster: cluster)
    }
}

struct Abort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Abort a CanaryRollout and roll back (writes status.requests.abort).")
    @Argument(help: "CanaryRollout name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(kind: StatusRequest.canaryRollout, verb: "abort", field: "abort", name: name, reason: reason, cluster: cluster)
    }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Retry an aborted or rolled-back CanaryRollout (writes status.requests.retry).")
    @Argument(help: "CanaryRollout name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(kind: StatusRequest.canaryRollout, verb: "retry", field: "retry", name: name, reason: reason, cluster: cluster)
    }
}
