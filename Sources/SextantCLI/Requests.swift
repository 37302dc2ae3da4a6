import ArgumentParser
import Foundation
import SextantAPI
import SextantDashboard
import SextantJSON
import SextantKube
import SextantKubeTypes

/// Sends one manual request (`StatusRequestVerb`, shared with the dashboard's buttons) and prints
/// what kubectl would: `canaryrollout.mlops.sextant.dev/NAME promote requested`.
enum StatusRequest {
    static func send(_ verb: StatusRequestVerb, name: String, reason: String?, cluster: ClusterOptions) async throws {
        let client = try cluster.client()
        let namespace = cluster.namespace(for: client)
        do {
            try await verb.send(client: client, name: name, namespace: namespace,
                                requestedBy: StatusRequestVerb.requester(kubeconfigUser: client.config.userName), reason: reason)
        } catch where error.isKube(.notFound) {
            throw CLIFailure("Error from server (NotFound): \(verb.descriptor.plural).\(verb.descriptor.group) \"\(name)\" not found in namespace \(namespace)")
        }
        print("\(verb.singular).\(verb.descriptor.group)/\(name) \(verb.verb) requested")
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Approve a ModelVersion (writes status.requests.approve).")
    @Argument(help: "ModelVersion name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(.approve, name: name, reason: reason, cluster: cluster)
    }
}

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reject a ModelVersion for good (writes status.requests.reject).")
    @Argument(help: "ModelVersion name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(.reject, name: name, reason: reason, cluster: cluster)
    }
}

struct Retrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a run of a TrainingJob now (writes status.requests.run).")
    @Argument(help: "TrainingJob name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(.retrain, name: name, reason: reason, cluster: cluster)
    }
}

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Promote a CanaryRollout's candidate now (writes status.requests.promote).")
    @Argument(help: "CanaryRollout name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(.promote, name: name, reason: reason, cluster: cluster)
    }
}

struct Abort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Abort a CanaryRollout and roll back (writes status.requests.abort).")
    @Argument(help: "CanaryRollout name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(.abort, name: name, reason: reason, cluster: cluster)
    }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Retry an aborted or rolled-back CanaryRollout (writes status.requests.retry).")
    @Argument(help: "CanaryRollout name.") var name: String
    @Option(help: "Why; recorded in status and the Event.") var reason: String?
    @OptionGroup var cluster: ClusterOptions
    func run() async throws {
        try await StatusRequest.send(.retry, name: name, reason: reason, cluster: cluster)
    }
}
