import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube

/// The Istio router: points DestinationRule subsets (or the two Services' selectors) at
/// versions, then patches the owned HTTP routes of the user's VirtualService. The pure halves
/// are `VirtualServiceRouting` and `VersionSelectors` in SextantDomain. See docs/routing.md.
public struct IstioRouter: Router {
    /// Istio's `v1beta1` is served by every Istio release Sextant supports (`v1` only from 1.22).
    public static func virtualServices(version: String = "v1beta1") -> ResourceDescriptor {
        ResourceDescriptor(group: "networking.istio.io", version: version, plural: "virtualservices",
                           kind: "VirtualService", namespaced: true)
    }

    public static func destinationRules(version: String = "v1beta1") -> ResourceDescriptor {
        ResourceDescriptor(group: "networking.istio.io", version: version, plural: "destinationrules",
                           kind: "DestinationRule", namespaced: true)
    }

    let io: RoutingClient
    let virtualServices: ResourceDescriptor
    let destinationRules: ResourceDescriptor

    public init(client: RoutingClient, istioVersion: String = "v1beta1") {
        self.io = client
        self.virtualServices = Self.virtualServices(version: istioVersion)
        self.destinationRules = Self.destinationRules(version: istioVersion)
    }

    public func reconcile(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                          manageSelectors: Bool, reads: inout RoutingReads) async throws -> Bool {
        let namespace = io.namespace(of: rollout)
        let routing = rollout.spec.routing
        var changed = false
        if let ref = routing.destinationRule {
            let rule = try await io.read(destinationRules, name: ref.name, namespace: namespace, notFound: .destinationRuleNotFound,
                                   reads: &reads)
            // Computed even when not managing: it checks that both subsets exist.
            let ops = try VersionSelectors.destinationRulePatch(rule, ref: ref, stableVersion: stableVersion,
                                                                canaryVersion: canaryVersion)
            if manageSelectors, !ops.isEmpty {
                _ = try await io.patch(destinationRules, name: ref.name, namespace: namespace, ops: ops,
                                       notFound: .destinationRuleNotFound, invalid: .invalidDestinationRule, reads: &reads)
                changed = true
            }
        }
        if let services = routing.services {
            changed = try await io.pointServices(services, namespace: namespace, stableVersion: stableVersion,
                                                 canaryVersion: canaryVersion, manageSelectors: manageSelectors,
                                                 reads: &reads) || changed
        }
        return changed
    }

    public func setRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteWrite {
        let namespace = io.namespace(of: rollout)
        let routing = rollout.spec.routing
        let rolloutName = rollout.metadata.name ?? ""
        let name = try Self.virtualServiceName(routing)
        let current = try await io.read(virtualServices, name: name, namespace: namespace, notFound: .virtualServiceNotFound,
                                        reads: &reads)
        let previous = try VirtualServiceRouting.observe(current, routing: routing, rollout: rolloutName)
        let ops = try VirtualServiceRouting.patch(for: current, routing: routing, rollout: rolloutName, split: split)
        guard !ops.isEmpty else { return RouteWrite(changed: false, previous: previous, observed: previous) }
        let observed = try await io.writeRoutes(virtualServices, name: name, namespace: namespace, ops: ops,
                                                notFound: .virtualServiceNotFound, invalid: .invalidVirtualService,
                                                split: split, reads: &reads) { stored in
            (try VirtualServiceRouting.observe(stored, routing: routing, rollout: rolloutName),
             try VirtualServiceRouting.isRouting(stored, routing: routing, rollout: rolloutName, split: split))
        }
        return RouteWrite(changed: true, previous: previous, observed: observed)
    }

    public func checkRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteCheck {
        let name = try Self.virtualServiceName(rollout.spec.routing)
        let vs = try await io.read(virtualServices, name: name, namespace: io.namespace(of: rollout),
                                   notFound: .virtualServiceNotFound, reads: &reads)
        let routing = rollout.spec.routing, rolloutName = rollout.metadata.name ?? ""
        return RouteCheck(observed: try VirtualServiceRouting.observe(vs, routing: routing, rollout: rolloutName),
                          routes: try VirtualServiceRouting.isRouting(vs, routing: routing, rollout: rolloutName, split: split))
    }

    public func getRoutes(_ rollout: CanaryRollout) async throws -> ObservedRouting {
        let name = try Self.virtualServiceName(rollout.spec.routing)
        let vs = try await io.read(virtualServices, name: name, namespace: io.namespace(of: rollout),
                                   notFound: .virtualServiceNotFound)
        return try VirtualServiceRouting.observe(vs, routing: rollout.spec.routing, rollout: rollout.metadata.name ?? "")
    }

    static func virtualServiceName(_ routing: RoutingSpec) throws(RoutingError) -> String {
        guard let ref = routing.virtualService else {
            throw RoutingError(.invalidSpec, "spec.routing.virtualService is not set")
        }
        return ref.name
    }
}
