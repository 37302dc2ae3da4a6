import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube

/// What one `TrafficRouter.route` call did.
public struct RoutingResult: Sendable, Hashable {
    /// The VirtualService was written: the split changed, or was restored after an edit made
    /// out of band (`previous` shows what it was).
    public var changed: Bool
    /// A DestinationRule subset or Service selector was pointed at another version.
    public var selectorsChanged: Bool
    /// The owned routes as read before the write.
    public var previous: ObservedRouting
    /// The owned routes as stored after the write (decoded from the server's answer).
    public var observed: ObservedRouting

    public init(changed: Bool, selectorsChanged: Bool, previous: ObservedRouting, observed: ObservedRouting) {
        self.changed = changed
        self.selectorsChanged = selectorsChanged
        self.previous = previous
        self.observed = observed
    }
}

/// Moves traffic for a CanaryRollout: points the DestinationRule subsets (or the Services'
/// selectors) at versions, then patches the owned routes of the user's VirtualService, and
/// verifies the stored object. Every write is an RFC 6902 patch guarded by `test` operations;
/// a failed test comes back as a 409 `KubeError` (a requeue, not an error). See docs/routing.md.
public struct TrafficRouter: Sendable {
    /// Istio's `v1beta1` is served by every Istio release Sextant supports (`v1` only from 1.22).
    public static func virtualServices(version: String = "v1beta1") -> ResourceDescriptor {
        ResourceDescriptor(group: "networking.istio.io", version: version, plural: "virtualservices",
                           kind: "VirtualService", namespaced: true)
    }

    public static func destinationRules(version: String = "v1beta1") -> ResourceDescriptor {
        ResourceDescriptor(group: "networking.istio.io", version: version, plural: "destinationrules",
                           kind: "DestinationRule", namespaced: true)
    }

    public static let services = ResourceDescriptor(group: "", version: "v1", plural: "services", kind: "Service",
                                                    namespaced: true)

    let client: KubeClient
    let fieldManager: String
    let virtualServices: ResourceDescriptor
    let destinationRules: ResourceDescriptor

    public init(client: KubeClient, fieldManager: String = "sextant-controller", istioVersion: String = "v1beta1") {
        self.client = client
        self.fieldManager = fieldManager
        self.virtualServices = Self.virtualServices(version: istioVersion)
        self.destinationRules = Self.destinationRules(version: istioVersion)
    }

    /// Points the stable/canary destinations at `stableVersion`/`canaryVersion` (the canary at
    /// the stable version when nil), then makes the owned routes route per `split`.
    ///
    /// `manageSelectors` false (external serving: the user owns the Services, Deployments and
    /// subsets' labels) leaves DestinationRule subsets and Service selectors alone; they are
    /// still read, so a missing subset or Service is reported.
    public func route(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?, split: TrafficSplit,
                      manageSelectors: Bool) async throws -> RoutingResult {
        let namespace = rollout.metadata.namespace ?? client.defaultNamespace
        let routing = rollout.spec.routing
        let canaryTarget = VersionSelectors.canaryTarget(stableVersion: stableVersion, canaryVersion: canaryVersion)
        var selectorsChanged = false

        if let ref = routing.destinationRule {
            let rule = try await read(destinationRules, name: ref.name, namespace: namespace, notFound: .destinationRuleNotFound)
            // Computed even when not managing: it checks that both subsets exist.
            let ops = try VersionSelectors.destinationRulePatch(rule, ref: ref, stableVersion: stableVersion,
                                                                canaryVersion: canaryVersion)
            if manageSelectors, !ops.isEmpty {
                _ = try await patch(destinationRules, name: ref.name, namespace: namespace, ops: ops,
                                    notFound: .destinationRuleNotFound, invalid: .invalidDestinationRule)
                selectorsChanged = true
            }
        }
        if let services = routing.services {
            for (name, version) in [(services.stable, stableVersion), (services.canary, canaryTarget)] {
                let service = try await read(Self.services, name: name, namespace: namespace, notFound: .serviceNotFound)
                guard manageSelectors else { continue }
                let ops = try VersionSelectors.servicePatch(service, version: version)
                if !ops.isEmpty {
                    _ = try await patch(Self.services, name: name, namespace: namespace, ops: ops,
                                        notFound: .serviceNotFound, invalid: .invalidService)
                    selectorsChanged = true
                }
            }
        }

        let rolloutName = rollout.metadata.name ?? ""
        let vsName = routing.virtualService.name
        let current = try await read(virtualServices, name: vsName, namespace: namespace, notFound: .virtualServiceNotFound)
        let previous = try VirtualServiceRouting.observe(current, routing: routing, rollout: rolloutName)
        let ops = try VirtualServiceRouting.patch(for: current, routing: routing, rollout: rolloutName, split: split)
        guard !ops.isEmpty else {
            return RoutingResult(changed: false, selectorsChanged: selectorsChanged, previous: previous, observed: previous)
        }
        let stored = try await patch(virtualServices, name: vsName, namespace: namespace, ops: ops,
                                     notFound: .virtualServiceNotFound, invalid: .invalidVirtualService)
        // Read back: the server's answer is the stored object, after pruning and defaulting.
        let observed = try VirtualServiceRouting.observe(stored, routing: routing, rollout: rolloutName)
        guard try VirtualServiceRouting.isRouting(stored, routing: routing, rollout: rolloutName, split: split) else {
            throw RoutingError(.verificationFailed,
                               "VirtualService \(namespace)/\(vsName) was patched to \(split) but reads back as \(observed)")
        }
        return RoutingResult(changed: true, selectorsChanged: selectorsChanged, previous: previous, observed: observed)
    }

    /// What the owned routes of the rollout's VirtualService route now.
    public func observe(_ rollout: CanaryRollout) async throws -> ObservedRouting {
        let namespace = rollout.metadata.namespace ?? client.defaultNamespace
        let vs = try await read(virtualServices, name: rollout.spec.routing.virtualService.name, namespace: namespace,
                                notFound: .virtualServiceNotFound)
        return try VirtualServiceRouting.observe(vs, routing: rollout.spec.routing, rollout: rollout.metadata.name ?? "")
    }

    // MARK: Reads and guarded writes

    func read(_ resource: ResourceDescriptor, name: String, namespace: String,
              notFound: RoutingError.Reason) async throws -> JSONValue {
        do {
            // SextantJSON's parser keeps integers and numbers apart exactly as the server wrote them.
            return try JSONValue.decode(try await client.send(method: "GET", path: resource.path(namespace: namespace, name: name)))
        } catch let error as KubeError where error.reason == .notFound {
            throw RoutingError(notFound, "\(resource.kind) \(namespace)/\(name) not found (\(resource.apiVersion))")
        }
    }

    /// Sends a JSON patch and returns the stored object. A failed `test` (the object changed
    /// since it was read) becomes a 409 conflict `KubeError`; any other 422 is the server
    /// refusing the result (schema validation) and becomes a `RoutingError` of reason `invalid`
    /// with the server's message; 404 becomes `notFound`.
    public func patch(_ resource: ResourceDescriptor, name: String, namespace: String, ops: [JSONValue],
                      notFound: RoutingError.Reason, invalid: RoutingError.Reason) async throws -> JSONValue {
        let path = resource.path(namespace: namespace, name: name)
        do {
            let data = try await client.send(method: "PATCH", path: path,
                                             query: [URLQueryItem(name: "fieldManager", value: fieldManager)],
                                             body: try JSONValue.array(ops).encoded(),
                                             contentType: "application/json-patch+json")
            return try JSONValue.decode(data)
        } catch let error as KubeError where error.reason == .notFound {
            throw RoutingError(notFound, "\(resource.kind) \(namespace)/\(name) not found (\(resource.apiVersion))")
        } catch let error as KubeError where error.reason == .invalid {
            let message = error.status.message ?? ""
            // Schema rejections read `Kind.group "name" is invalid: field: ...` (NewInvalid);
            // a failed test or a vanished path is a generic 422 without that phrase.
            guard message.contains(" is invalid") || !error.causes.filter({ $0.field != nil }).isEmpty else {
                var status = error.status
                status.reason = "Conflict"
                status.code = 409
                status.message = "\(resource.kind) \(namespace)/\(name) changed since it was read: \(message)"
                throw KubeError(code: 409, status: status, verb: error.verb, path: error.path)
            }
            throw RoutingError(invalid, "\(resource.kind) \(namespace)/\(name): the API server refused the patch: \(error.description)")
        }
    }
}
