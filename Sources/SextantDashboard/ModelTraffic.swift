import Foundation
import SextantAPI
import SextantKubeTypes

/// Which version served how much traffic when: the periods a ModelVersion served in each
/// CanaryRollout of its namespace, derived from the rollouts' `status.history` (at most
/// `RolloutRecord.limit` records) and their live weights. Pure: rollouts and version in, rows out.
public struct ModelTraffic: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        /// The version was the candidate of a record (start to end of that record).
        case canary = "Canary"
        /// The version was the rollout's stable version (from its promotion to the next one).
        case stable = "Stable"
        /// The version was the stable one another candidate's record started from.
        case baseline = "Baseline"
    }

    public struct Period: Sendable, Hashable {
        public var rollout: String
        public var role: Role
        /// Nil: before the oldest kept record (the history does not say when).
        public var start: String?
        /// Nil with `live`: still serving; nil without it: the history does not say.
        public var end: String?
        public var live: Bool
        /// The share of traffic, when the status says it: the live weight, or 100 for a
        /// first version (nothing to split with) and for a stable version between candidates.
        public var weight: String
        /// The record's outcome (`Running` while open); none for a stable period.
        public var outcome: String?
        /// The other version involved and the record's reason.
        public var note: String
    }

    /// The gauge the controller sets to each rollout's verified canary weight, per `namespace`
    /// and `rollout` (SextantControllers' CanaryRolloutReconciler; a test fails on drift).
    public static let weightGauge = "sextant_rollout_canary_weight"

    /// One rollout's canary weight over its life, from Prometheus (or why not).
    public struct WeightSeries: Sendable, Hashable {
        public var rollout: String
        public var points: [MetricChart.Point]
        public var error: String?
        public init(rollout: String, points: [MetricChart.Point], error: String? = nil) {
            self.rollout = rollout
            self.points = points
            self.error = error
        }
    }

    /// The subquery of a rollout's canary weight over `range` seconds (`max`: one series even when
    /// several controller replicas or scrapes export it).
    public static func weightQuery(namespace: String, rollout: String, range: Int, step: Int) -> String {
        "max(\(weightGauge){namespace=\"\(ClusterSource.promQLString(namespace))\",rollout=\"\(ClusterSource.promQLString(rollout))\"})[\(range)s:\(step)s]"
    }

    public var periods: [Period]
    /// Rollouts whose history began before its oldest kept record: earlier periods are not known.
    public var earlierHistoryNotKept: [String]

    /// The record's reason when it says more than its outcome.
    static func reason(_ r: RolloutRecord) -> String {
        guard let reason = r.reason, reason != r.outcome?.rawValue else { return "" }
        return " · " + reason
    }

    public static func of(_ mv: ModelVersion, rollouts: [CanaryRollout]) -> ModelTraffic {
        let name = mv.metadata.name ?? "", namespace = mv.metadata.namespace
        var periods: [(date: Date?, period: Period)] = []
        var truncated: [String] = []
        for rollout in rollouts where rollout.metadata.namespace == namespace {
            let status = rollout.status ?? CanaryRolloutStatus()
            let history = status.history ?? []
            guard history.contains(where: { $0.version == name || $0.stableVersion == name }) || status.stableVersion == name
                    || status.canaryVersion == name else { continue }
            let rolloutName = rollout.metadata.name ?? ""
            // The first version's record starts from no stable version; any other oldest record
            // means older records were dropped (or the status predates the history).
            let kept = history.first.map { $0.stableVersion == nil } ?? (status.stableVersion == nil)
            if !kept { truncated.append(rolloutName) }
            let canaryWeight = status.canaryWeight ?? 0
            func isCurrent(_ r: RolloutRecord) -> Bool { r.outcome == nil && status.canaryVersion == r.version }

            for r in history {
                if r.version == name {
                    let current = isCurrent(r)
                    let weight = r.stableVersion == nil ? "100%" : current ? "\(canaryWeight)%" : "steps"
                    periods.append((KubeTime.parse(r.startTime), Period(
                        rollout: rolloutName, role: .canary, start: r.startTime, end: r.endTime, live: current, weight: weight,
                        outcome: r.outcome?.rawValue ?? "Running",
                        note: (r.stableVersion.map { "against stable \($0)" } ?? "first version") + reason(r))))
                } else if r.stableVersion == name {
                    let current = isCurrent(r)
                    periods.append((KubeTime.parse(r.startTime), Period(
                        rollout: rolloutName, role: .baseline, start: r.startTime, end: r.endTime, live: current,
                        weight: current ? "\(100 - canaryWeight)%" : "100% − canary", outcome: r.outcome?.rawValue ?? "Running",
                        note: "stable while \(r.version) was canary" + reason(r))))
                }
            }

            // Stable periods: from a promotion (or, for the oldest stable, an unknown start) to
            // the next promotion of another version.
            var segments: [(version: String, start: String?, startIndex: Int)] = []
            if let first = history.first?.stableVersion ?? (history.isEmpty ? status.stableVersion : nil) {
                segments.append((first, nil, -1))
            }
            for (i, r) in history.enumerated() where r.outcome == .promoted && r.version != segments.last?.version {
                segments.append((r.version, r.endTime, i))
            }
            for (i, s) in segments.enumerated() where s.version == name {
                let next = i + 1 < segments.count ? segments[i + 1] : nil
                let current = next == nil && status.stableVersion == name
                let start = s.start ?? (kept ? rollout.metadata.creationTimestamp : nil)
                periods.append((start.flatMap(KubeTime.parse), Period(
                    rollout: rolloutName, role: .stable, start: start, end: next?.start, live: current,
                    weight: current ? "\(100 - canaryWeight)%" : "100% − canary", outcome: nil,
                    note: next.map { "until \($0.version) was promoted" } ?? (current ? "current stable" : "replaced (not in the kept history)"))))
            }
        }
        // Newest first; an unknown start is the oldest.
        let sorted = periods.enumerated().sorted { a, b in
            let x = a.element.date ?? .distantPast, y = b.element.date ?? .distantPast
            return x != y ? x > y : a.offset > b.offset
        }.map(\.element.period)
        return ModelTraffic(periods: sorted, earlierHistoryNotKept: truncated.sorted())
    }
}
