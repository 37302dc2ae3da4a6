import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube

/// The reads and guarded writes every router makes: a read that turns 404 into the router's
/// `…NotFound` reason, a JSON patch whose failed `test` comes back as a 409 conflict, and the
/// Service selectors that host-level splits (Istio `services`, every Gateway API route) point.
public struct RoutingClient: Sendable {
    public static let services = ResourceDescriptor(group: "", version: "v1", plural: "services", kind: "Service",
                                                    namespaced: true)

    let client: KubeClient
    let fieldManager: String

    public init(client: KubeClient, fieldManager: String = "sextant-controller") {
        self.client = client
        self.fieldManager = fieldManager
    }

    func namespace(of rollout: CanaryRollout) -> String { rollout.metadata.namespace ?? client.defaultNamespace }

    func read(_ resource: ResourceDescriptor, name: String, namespace: String,
              notFound: RoutingError.Reason) async throws -> JSONValue {
        do {
            // SextantJSON's parser keeps integers and numbers apart exactly as the server wrote them.
            return try JSONValue.decode(try await client.send(method: "GET", path: resource.path(namespace: namespace, name: name)))
        } catch let error as KubeError where error.reason == .notFound {
            throw RoutingError(notFound, "\(resource.kind) \(namespace)/\(name) not found (\(resource.apiVersion))")
        }
    }

    /// `read`, unless this pass has read (or written) the object already: then what it has.
    func read(_ resource: ResourceDescriptor, name: String, namespace: String, notFound: RoutingError.Reason,
              reads: inout RoutingReads) async throws -> JSONValue {
        let path = resource.path(namespace: namespace, name: name)
        if let kept = reads.objects[path] { return kept }
        let object = try await read(resource, name: name, namespace: namespace, notFound: notFound)
        reads.objects[path] = object
        return object
    }

    /// `patch`, keeping the stored object in `reads` (it carries the new resourceVersion).
    func patch(_ resource: ResourceDescriptor, name: String, namespace: String, ops: [JSONValue],
               notFound: RoutingError.Reason, invalid: RoutingError.Reason, reads: inout RoutingReads) async throws -> JSONValue {
        let stored = try await patch(resource, name: name, namespace: namespace, ops: ops, notFound: notFound, invalid: invalid)
        reads.objects[resource.path(namespace: namespace, name: name)] = stored
        return stored
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

    /// Points the stable and canary Services' selectors at the versions (host-level split).
    /// Both are read even when not managing, so a missing Service is reported.
    func pointServices(_ pair: ServicePair, namespace: String, stableVersion: String, canaryVersion: String?,
                       manageSelectors: Bool, reads: inout RoutingReads) async throws -> Bool {
        let canaryTarget = VersionSelectors.canaryTarget(stableVersion: stableVersion, canaryVersion: canaryVersion)
        var changed = false
        for (name, version) in [(pair.stable, stableVersion), (pair.canary, canaryTarget)] {
            let service = try await read(Self.services, name: name, namespace: namespace, notFound: .serviceNotFound,
                                         reads: &reads)
            guard manageSelectors else { continue }
            let ops = try VersionSelectors.servicePatch(service, version: version)
            if !ops.isEmpty {
                _ = try await patch(Self.services, name: name, namespace: namespace, ops: ops,
                                    notFound: .serviceNotFound, invalid: .invalidService, reads: &reads)
                changed = true
            }
        }
        return changed
    }

    /// Patches a routing object and verifies the server's answer (the stored object, after
    /// pruning and defaulting) routes as asked; `verify` returns the observation and whether it does.
    func writeRoutes(_ resource: ResourceDescriptor, name: String, namespace: String, ops: [JSONValue],
                     notFound: RoutingError.Reason, invalid: RoutingError.Reason, split: TrafficSplit,
                     reads: inout RoutingReads,
                     verify: (JSONValue) throws -> (ObservedRouting, Bool)) async throws -> ObservedRouting {
        let stored = try await patch(resource, name: name, namespace: namespace, ops: ops, notFound: notFound, invalid: invalid,
                                     reads: &reads)
        let (observed, routes) = try verify(stored)
        guard routes else {
            throw RoutingError(.verificationFailed,
                               "\(resource.kind) \(namespace)/\(name) was patched to \(split) but reads back as \(observed)")
        }
        return observed
    }
}
