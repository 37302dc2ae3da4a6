import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube

/// The routing objects (route, DestinationRule, Services) one pass has read, by API path, as the
/// server sent them: `Router.check` fills it and `Router.route` builds its guarded patches from it
/// instead of reading again, so a pass reads each object once. A write keeps the server's answer
/// (the stored object), so what is kept is always the newest version the pass has seen. Kept for
/// one pass only: Istio and Gateway API objects are not watched (no informer cache), so every
/// pass reads them from the API server.
public struct RoutingReads: Sendable, Hashable {
    var objects: [String: JSONValue] = [:]

    public init() {}

    public var isEmpty: Bool { objects.isEmpty }
    /// The API paths of the objects kept.
    public var paths: Set<String> { Set(objects.keys) }
}

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
    /// The objects as this call left them (its reads, or the server's answers to its writes).
    public var reads: RoutingReads

    public init(changed: Bool, selectorsChanged: Bool, previous: ObservedRouting, observed: ObservedRouting,
                reads: RoutingReads = RoutingReads()) {
        self.changed = changed
        self.selectorsChanged = selectorsChanged
        self.previous = previous
        self.observed = observed
        self.reads = reads
    }
}

/// What one `Router.check` read: the owned routes now, and whether they route as asked.
public struct RouteCheck: Sendable, Hashable {
    public var observed: ObservedRouting
    /// The owned routes route the split asked for (no write needed).
    public var routes: Bool
    /// What was read, for the pass's `route` (`Router.check` fills it).
    public var reads: RoutingReads

    public init(observed: ObservedRouting, routes: Bool, reads: RoutingReads = RoutingReads()) {
        self.observed = observed
        self.routes = routes
        self.reads = reads
    }
}

/// One routing API (Istio VirtualService, Gateway API HTTPRoute/GRPCRoute) behind the four
/// methods of Flagger's router interface. Each implementation edits only the fields Sextant owns
/// in objects the user owns, with guarded JSON patches and a read-back (docs/routing.md).
/// `reads` holds what the pass has read already: an object found there is not read again, an
/// object read or written is put there.
public protocol Router: Sendable {
    /// Points the stable and canary destinations at `stableVersion`/`canaryVersion` (the canary
    /// at the stable version when nil): DestinationRule subset labels or Service selectors.
    /// `manageSelectors` false (external serving) only reads them, so a missing one is reported.
    /// Returns whether anything was written.
    func reconcile(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                   manageSelectors: Bool, reads: inout RoutingReads) async throws -> Bool

    /// Makes the owned routes route per `split` (weights, mirror, A/B match), writing only when
    /// they differ, and verifies the stored object.
    func setRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteWrite

    /// Whether the owned routes route per `split` now, without writing: `setRoutes`' read and
    /// checks (a split the routes cannot hold throws its `RoutingError`), no patch.
    func checkRoutes(_ rollout: CanaryRollout, split: TrafficSplit, reads: inout RoutingReads) async throws -> RouteCheck

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
    ///
    /// `reads` (from this pass's `check`) are written from instead of read again. Every patch
    /// stays guarded by `test` ops on what was read, so an object changed since fails the patch
    /// (409); then everything is read again and the route made once more. A conflict on fresh
    /// reads is thrown, as before: the pass is retried.
    public func route(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?, split: TrafficSplit,
                      manageSelectors: Bool, reads: RoutingReads = RoutingReads()) async throws -> RoutingResult {
        let split = split.withSessionAffinity(rollout.spec.analysis?.sessionAffinity, rollout: rollout.metadata.name ?? "",
                                              canaryVersion: canaryVersion)
        var reads = reads
        var selectorsChanged = false
        while true {
            let handedOver = !reads.isEmpty
            do {
                // `||` after the call: a selector pointed before a conflict still counts.
                selectorsChanged = try await reconcile(rollout, stableVersion: stableVersion, canaryVersion: canaryVersion,
                                                       manageSelectors: manageSelectors, reads: &reads) || selectorsChanged
                let write = try await setRoutes(rollout, split: split, reads: &reads)
                return RoutingResult(changed: write.changed, selectorsChanged: selectorsChanged, previous: write.previous,
                                     observed: write.observed, reads: reads)
            } catch let error as KubeError where error.reason == .conflict && handedOver {
                reads = RoutingReads()
            }
        }
    }

    /// `route` without writing: the destinations are read (a missing Service, DestinationRule or
    /// subset throws) and the owned routes checked against `split` with its session affinity.
    /// Selectors are not compared: `route` points them when it writes. The objects read come
    /// back in `reads`, for the pass's `route`.
    public func check(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                      split: TrafficSplit) async throws -> RouteCheck {
        var reads = RoutingReads()
        _ = try await reconcile(rollout, stableVersion: stableVersion, canaryVersion: canaryVersion, manageSelectors: false,
                                reads: &reads)
        let split = split.withSessionAffinity(rollout.spec.analysis?.sessionAffinity, rollout: rollout.metadata.name ?? "",
                                              canaryVersion: canaryVersion)
        var check = try await checkRoutes(rollout, split: split, reads: &reads)
        check.reads = reads
        return check
    }

    /// The methods above reading everything afresh.
    public func reconcile(_ rollout: CanaryRollout, stableVersion: String, canaryVersion: String?,
                          manageSelectors: Bool) async throws -> Bool {
        var reads = RoutingReads()
        return try await reconcile(rollout, stableVersion: stableVersion, canaryVersion: canaryVersion,
                                   manageSelectors: manageSelectors, reads: &reads)
    }

    public func setRoutes(_ rollout: CanaryRollout, split: TrafficSplit) async throws -> RouteWrite {
        var reads = RoutingReads()
        return try await setRoutes(rollout, split: split, reads: &reads)
    }

    public func checkRoutes(_ rollout: CanaryRollout, split: TrafficSplit) async throws -> RouteCheck {
        var reads = RoutingReads()
        return try await checkRoutes(rollout, split: split, reads: &reads)
    }

    public func observe(_ rollout: CanaryRollout) async throws -> ObservedRouting { try await getRoutes(rollout) }

    public func finalize(_ rollout: CanaryRollout) async throws {
        _ = try await setRoutes(rollout, split: TrafficSplit(canaryWeight: 0))
    }
}
