import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube

/// Moves traffic for a CanaryRollout through the router its `spec.routing` names: the Istio
/// VirtualService router, or the Gateway API router for an HTTPRoute or GRPCRoute. Every write
/// is an RFC 6902 patch guarded by `test` operations; a failed test comes back as a 409
/// `KubeError` (a requeue, not an error). See docs/routing.md.
public struct TrafficRouter: Router {
    public static func virtualServices(version: String = "v1beta1") -> ResourceDescriptor {
        IstioRouter.virtualServices(version: version)
    }

    public static func destinationRules(version: String = "v1beta1") -> ResourceDescriptor {
        IstioRouter.destinationRules(version: version)
    }

    public static let services = RoutingClient.services

    let io: RoutingClient
    let istio: IstioRouter
    let gatewayAPI: GatewayAPIRouter

    public init(client: KubeClient, fieldManager: String = "sextant-controller", istioVersion: String = "v1beta1") {
        io = RoutingClient(client: client, fieldManager: fieldManager)
        istio = IstioRouter(client: io, istioVersion: istioVersion)
        gatewayAPI = GatewayAPIRouter(client: io)
    }

    /// The implementation for this rollout's `spec.routing`.
    public func router(for rollout: CanaryRollout) -> any Router {
        rollout.spec.routing.virtualService != nil ? istio : gatewayAPI
    }

    public func reconcile(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                          manageSelectors: Bool, reads: inout RoutingReads) async throws -> Bool {
        try await router(for: rollout).reconcile(rollout, stableVersion: stableVersion, canaryVersion: canaryVersion,
                                                 manageSelectors: manageSelectors, reads: &reads)
    }

    public func setRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteWrite {
        try await router(for: rollout).setRoutes(rollout, split: split, reads: &reads)
    }

    public func checkRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteCheck {
        try await router(for: rollout).checkRoutes(rollout, split: split, reads: &reads)
    }

    public func getRoutes(_ rollout: CanaryRollout) async throws -> ObservedRouting {
        try await router(for: rollout).getRoutes(rollout)
    }

    public func finalize(_ rollout: CanaryRollout) async throws {
        try await router(for: rollout).finalize(rollout)
    }

    /// A guarded JSON patch (see `RoutingClient.patch`).
    public func patch(_ resource: ResourceDescriptor, name: String, namespace: String, ops: [JSONValue],
                      notFound: RoutingError.Reason, invalid: RoutingError.Reason) async throws -> JSONValue {
        try await io.patch(resource, name: name, namespace: namespace, ops: ops, notFound: notFound, invalid: invalid)
    }
}
