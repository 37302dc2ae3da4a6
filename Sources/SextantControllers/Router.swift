import SextantAPI
import SextantDomain

/// What one `Router.setRoutes` call did to the routing object (VirtualService, HTTPRoute, ...).
public struct RouteWrite: Sendable, Hashable {
    /// Written: the split changed, or was restored after an edit made out of band.
    public var changed: Bool
    /// The owned routes as read before the write.
    public var previous: ObservedRouting
    /// The owned routes as stored after the write (decoded from the server's answer).
    public var observed: ObservedRouting

    public init(changed: Bool, previous: ObservedRouting, observed: ObservedRouting) {
        self.changed = changed
        self.previous = previous
        self.observed = observed
    }
}

/// What one `Router.route` call did.
public struct RoutingResult: Sendable, Hashable {
    /// The routing object was written: the split changed, or was restored after an edit made
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

/// What one `Router.check` read: the owned routes now, and whether they route as asked.
public struct RouteCheck: Sendable, Hashable {
    public var observed: ObservedRouting
    /// The owned routes route the split asked for (no write needed).
    public var routes: Bool

    public init(observed: ObservedRouting, routes: Bool) {
        self.observed = observed
        self.routes = routes
    }
}

/// One routing API (Istio VirtualService, Gateway API HTTPRoute/GRPCRoute) behind the four
/// methods of Flagger's router interface. Each implementation edits only the fields Sextant owns
/// in objects the user owns, with guarded JSON patches and a read-back (docs/routing.md).
public protocol Router: Sendable {
    /// Points the stable and canary destinations at `stableVersion`/`canaryVersion` (the canary
    /// at the stable version when nil): DestinationRule subset labels or Service selectors.
    /// `manageSelectors` false (external serving) only reads them, so a missing one is reported.
    /// Returns whether anything was written.
    func reconcile(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                   manageSelectors: Bool) async throws -> Bool

    /// Makes the owned routes route per `split` (weights, mirror, A/B match), writing only when
    /// they differ, and verifies the stored object.
    func setRoutes(_ rollout: CanaryRollout, split: TrafficSplit) async throws -> RouteWrite

    /// Whether the owned routes route per `split` now, without writing: `setRoutes`' read and
    /// checks (a split the routes cannot hold throws its `RoutingError`), no patch.
    func checkRoutes(_ rollout: CanaryRollout, split: TrafficSplit) async throws -> RouteCheck

    /// What the owned routes route now.
    func getRoutes(_ rollout: CanaryRollout) async throws -> ObservedRouting

    /// Leaves the user's routing object as it was before the rollout: all traffic on the stable
    /// destination, Sextant's mirror and A/B match removed. Selectors stay (they select a
    /// version that serves).
    func finalize(_ rollout: CanaryRollout) async throws
}

extension Router {
    /// Points the destinations first and moves weights second, within one call: a destination
    /// always selects the version meant for it before any weight reaches it. Session affinity
    /// (`spec.analysis.sessionAffinity`) rides along while a canary version has weight.
    public func route(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?, split: TrafficSplit,
                      manageSelectors: Bool) async throws -> RoutingResult {
        let selectorsChanged = try await reconcile(rollout, stableVersion: stableVersion, canaryVersion: canaryVersion,
                                                   manageSelectors: manageSelectors)
        let split = split.withSessionAffinity(rollout.spec.analysis?.sessionAffinity, rollout: rollout.metadata.name ?? "",
                                              canaryVersion: canaryVersion)
        let write = try await setRoutes(rollout, split: split)
        return RoutingResult(changed: write.changed, selectorsChanged: selectorsChanged, previous: write.previous,
                             observed: write.observed)
    }

    /// `route` without writing: the destinations are read (a missing Service, DestinationRule or
    /// subset throws) and the owned routes checked against `split` with its session affinity.
    /// Selectors are not compared: `route` points them when it writes.
    public func check(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                      split: TrafficSplit) async throws -> RouteCheck {
        _ = try await reconcile(rollout, stableVersion: stableVersion, canaryVersion: canaryVersion, manageSelectors: false)
        let split = split.withSessionAffinity(rollout.spec.analysis?.sessionAffinity, rollout: rollout.metadata.name ?? "",
                                              canaryVersion: canaryVersion)
        return try await checkRoutes(rollout, split: split)
    }

    public func observe(_ rollout: CanaryRollout) async throws -> ObservedRouting { try await getRoutes(rollout) }

    public func finalize(_ rollout: CanaryRollout) async throws {
        _ = try await setRoutes(rollout, split: TrafficSplit(canaryWeight: 0))
    }
}
