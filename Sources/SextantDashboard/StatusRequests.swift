import Foundation
import SextantAPI
import SextantJSON
import SextantKube
import SextantKubeTypes

/// The manual requests (`sextant approve|reject|retrain|promote|abort|retry`, and the dashboard's
/// buttons): each writes `status.requests.<field> = {requestedAt, requestedBy, reason}` with a
/// merge patch on the status subresource (no generation bump, nothing for GitOps to revert; RBAC
/// on `<plural>/status`). The controller acts on each `requestedAt` once.
public struct StatusRequestVerb: Sendable, Hashable {
    /// The command and button name (`promote`).
    public var verb: String
    public var descriptor: ResourceDescriptor
    /// `canaryrollout`, as in `canaryrollout.mlops.sextant.dev/NAME promote requested`.
    public var singular: String
    /// The field under `status.requests`.
    public var field: String

    public static let approve = StatusRequestVerb(verb: "approve", descriptor: ResourceDescriptor(ModelVersion.self), singular: "modelversion", field: "approve")
    public static let reject = StatusRequestVerb(verb: "reject", descriptor: ResourceDescriptor(ModelVersion.self), singular: "modelversion", field: "reject")
    public static let retrain = StatusRequestVerb(verb: "retrain", descriptor: ResourceDescriptor(TrainingJob.self), singular: "trainingjob", field: "run")
    public static let promote = StatusRequestVerb(verb: "promote", descriptor: ResourceDescriptor(CanaryRollout.self), singular: "canaryrollout", field: "promote")
    public static let abort = StatusRequestVerb(verb: "abort", descriptor: ResourceDescriptor(CanaryRollout.self), singular: "canaryrollout", field: "abort")
    public static let retry = StatusRequestVerb(verb: "retry", descriptor: ResourceDescriptor(CanaryRollout.self), singular: "canaryrollout", field: "retry")
    public static let all: [StatusRequestVerb] = [approve, reject, retrain, promote, abort, retry]

    /// The merge patch of one request.
    public func patch(requestedBy: String, reason: String?, now: Date) -> JSONValue {
        var request: [String: JSONValue] = ["requestedAt": .string(Self.timestamp(now)), "requestedBy": .string(requestedBy)]
        request["reason"] = reason.map(JSONValue.string)
        return .object(["status": .object(["requests": .object([field: .object(request)])])])
    }

    /// Reads the object (a missing one is a plain 404), then patches its status.
    public func send(client: KubeClient, name: String, namespace: String, requestedBy: String, reason: String?) async throws {
        let _: DynamicObject = try await client.get(descriptor, name: name, namespace: namespace)
        let _: DynamicObject = try await client.patch(descriptor, name: name, .merge(patch(requestedBy: requestedBy, reason: reason, now: Date())),
                                                      namespace: namespace, subresource: "status")
    }

    /// RFC 3339 with milliseconds, so two requests in one second are distinct.
    public static func timestamp(_ date: Date) -> String { KubeTime.format(date, fractionDigits: 3) }

    /// Who asked: `$SEXTANT_USER` when set (bots, CI), else the kubeconfig user of the context
    /// (the `users[].name` entry, as `kubectl config view --minify` shows it), else the login name
    /// (`$USER`, `$LOGNAME`; in-cluster without a kubeconfig), else `unknown`.
    public static func requester(kubeconfigUser: String?,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let candidates = [environment["SEXTANT_USER"], kubeconfigUser, environment["USER"], environment["LOGNAME"]]
        return candidates.compactMap { $0 }.first { !$0.isEmpty } ?? "unknown"
    }
}

/// Whether the dashboard's user may send a page's manual requests (their buttons are hidden when
/// the API server says no).
public enum ActionAccess: Sendable, Equatable {
    case allowed
    /// The request the user may not make, e.g. `patch canaryrollouts/status in namespace ml`.
    case denied(String)
    /// The review itself failed: show the buttons, the API answers when one is pressed.
    case unknown
}
