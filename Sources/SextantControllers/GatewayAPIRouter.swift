import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube

/// The Gateway API router: points the stable and canary Services' selectors at versions, then
/// sets the backendRefs weights of the owned rules of the user's HTTPRoute or GRPCRoute (plus
/// Sextant's RequestMirror filter for shadow and its header-match rule for A/B). The pure half
/// is `GatewayRouteRouting` in SextantDomain. See docs/routing.md.
public struct GatewayAPIRouter: Router {
    public static let httpRoutes = ResourceDescriptor(group: "gateway.networking.k8s.io", version: "v1",
                                                      plural: "httproutes", kind: "HTTPRoute", namespaced: true)
    public static let grpcRoutes = ResourceDescriptor(group: "gateway.networking.k8s.io", version: "v1",
                                                      plural: "grpcroutes", kind: "GRPCRoute", namespaced: true)

    let io: RoutingClient

    public init(client: RoutingClient) { self.io = client }

    public func reconcile(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                          manageSelectors: Bool, reads: inout RoutingReads) async throws -> Bool {
        let field = rollout.spec.routing.api == .grpcRoute ? "grpcRoute" : "httpRoute"
        guard let services = rollout.spec.routing.services else {
            throw RoutingError(.invalidSpec, "spec.routing.\(field) needs spec.routing.services (the stable and canary Services its backendRefs name)")
        }
        return try await io.pointServices(services, namespace: io.namespace(of: rollout), stableVersion: stableVersion,
                                          canaryVersion: canaryVersion, manageSelectors: manageSelectors, reads: &reads)
    }

    public func setRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteWrite {
        let (resource, name, api) = try Self.target(rollout.spec.routing)
        let namespace = io.namespace(of: rollout)
        let routing = rollout.spec.routing
        let rolloutName = rollout.metadata.name ?? ""
        let current = try await io.read(resource, name: name, namespace: namespace, notFound: .gatewayRouteNotFound,
                                        reads: &reads)
        let previous = try GatewayRouteRouting.observe(current, api: api, routing: routing, rollout: rolloutName)
        let ops = try GatewayRouteRouting.patch(for: current, api: api, routing: routing, rollout: rolloutName, split: split)
        guard !ops.isEmpty else { return RouteWrite(changed: false, previous: previous, observed: previous) }
        let observed = try await io.writeRoutes(resource, name: name, namespace: namespace, ops: ops,
                                                notFound: .gatewayRouteNotFound, invalid: .invalidGatewayRoute,
                                                split: split, reads: &reads) { stored in
            (try GatewayRouteRouting.observe(stored, api: api, routing: routing, rollout: rolloutName),
             try GatewayRouteRouting.isRouting(stored, api: api, routing: routing, rollout: rolloutName, split: split))
        }
        return RouteWrite(changed: true, previous: previous, observed: observed)
    }

    public func checkRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteCheck {
        let (resource, name, api) = try Self.target(rollout.spec.routing)
        let route = try await io.read(resource, name: name, namespace: io.namespace(of: rollout), notFound: .gatewayRouteNotFound,
                                      reads: &reads)
        let routing = rollout.spec.routing, rolloutName = rollout.metadata.name ?? ""
        return RouteCheck(observed: try GatewayRouteRouting.observe(route, api: api, routing: routing, rollout: rolloutName),
                          routes: try GatewayRouteRouting.isRouting(route, api: api, routing: routing, rollout: rolloutName,
                                                                    split: split))
    }

    public func getRoutes(_ rollout: CanaryRollout) async throws -> ObservedRouting {
        let (resource, name, api) = try Self.target(rollout.spec.routing)
        let route = try await io.read(resource, name: name, namespace: io.namespace(of: rollout), notFound: .gatewayRouteNotFound)
        return try GatewayRouteRouting.observe(route, api: api, routing: rollout.spec.routing, rollout: rollout.metadata.name ?? "")
    }

    static func target(_ routing: RoutingSpec) throws(RoutingError) -> (ResourceDescriptor, String, RoutingAPI) {
        if let ref = routing.httpRoute, routing.grpcRoute == nil { return (httpRoutes, ref.name, .httpRoute) }
        if let ref = routing.grpcRoute, routing.httpRoute == nil { return (grpcRoutes, ref.name, .grpcRoute) }
        throw RoutingError(.invalidSpec, "spec.routing: set exactly one of virtualService, httpRoute and grpcRoute")
    }
}
