// Feature drift against the artifact's reference profile: PSI over the reference histogram bins
// (plus a "missing" bin) and the Kolmogorov-Smirnov statistic against the reference quantiles,
// both over a sliding window of the most recent rows.
import Foundation
import SextantML
import Synchronization

public enum Drift {
    /// Share floor for empty bins: keeps ln(a/e) finite. 1e-4 is the usual choice (a bin with no
    /// live rows against a 10% reference bin then adds about 0.09, not infinity).
    public static let epsilon = 1e-4

    /// Population stability index: sum over bins of (a - e) * ln(a / e), with a and e the live and
    /// reference shares. Shares are computed from counts; both sides get the same floor.
    public static func psi(expected: [Double], actual: [Double]) -> Double {
        let te = expected.reduce(0, +), ta = actual.reduce(0, +)
        guard te > 0, ta > 0, expected.count == actual.count else { return 0 }
        var sum = 0.0
        for i in expected.indices {
            let e = max(expected[i] / te, epsilon), a = max(actual[i] / ta, epsilon)
            sum += (a - e) * log(a / e)
        }
        return sum
    }

    /// Two-sample style KS statistic sup |F_live(x) - F_ref(x)| where F_ref is the reference CDF,
    /// piecewise linear through (min, 0), the profile's quantiles and (max, 1). `sortedLive` must be
    /// sorted and free of NaN.
    public static func ks(sortedLive: [Double], referenceCDF: ReferenceCDF) -> Double {
        let n = sortedLive.count
        guard n > 0 else { return 0 }
        var d = 0.0
        var i = 0
        while i < n {
            // Jump of the empirical CDF at this value: check both sides of the step.
            let x = sortedLive[i]
            var j = i
            while j < n && sortedLive[j] == x { j += 1 }
            let f = referenceCDF.cdf(x)
            d = max(d, abs(Double(j) / Double(n) - f), abs(Double(i) / Double(n) - f))
            i = j
        }
        return d
    }
}

/// The reference distribution of one numeric feature as (value, cumulative share) knots.
public struct ReferenceCDF: Sendable, Equatable {
    public var xs: [Double]
    public var ps: [Double]

    public init?(_ column: ColumnProfile, levels: [Double]) {
        guard let q = column.quantiles, let lo = column.min, let hi = column.max, q.count == levels.count else { return nil }
        var xs = [lo], ps = [0.0]
        for (x, p) in zip(q, levels) where x >= (xs.last ?? lo) { xs.append(x); ps.append(p) }
        xs.append(hi); ps.append(1)
        self.xs = xs
        self.ps = ps
    }

    public init(xs: [Double], ps: [Double]) {
        self.xs = xs
        self.ps = ps
    }

    public func cdf(_ x: Double) -> Double {
        guard let first = xs.first, let last = xs.last else { return 0 }
        if x < first { return 0 }
        if x >= last { return 1 }
        // Last knot <= x, then interpolate towards the next one.
        var lo = 0, hi = xs.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if xs[mid] <= x { lo = mid } else { hi = mid }
        }
        let span = xs[hi] - xs[lo]
        return span > 0 ? ps[lo] + (ps[hi] - ps[lo]) * (x - xs[lo]) / span : ps[hi]
    }
}

/// Reference bins of one feature: numeric histogram edges or category codes, plus "missing".
public struct FeatureReference: Sendable {
    public var name: String
    public var isCategorical: Bool
    /// Numeric: inner histogram edges; live values are binned with `Histogram.bin`.
    public var edges: [Double]
    /// Expected counts per bin; the last entry is the missing bin. For categorical features the
    /// bins are the model's category codes in order, then "other" (unknown), then missing.
    public var expected: [Double]
    public var cdf: ReferenceCDF?

    public init(name: String, isCategorical: Bool, edges: [Double], expected: [Double], cdf: ReferenceCDF?) {
        self.name = name
        self.isCategorical = isCategorical
        self.edges = edges
        self.expected = expected
        self.cdf = cdf
    }

    /// From the artifact's profile; nil when the profile has nothing usable for this feature.
    public init?(feature: ServedFeature, profile: ReferenceProfile) {
        guard let column = profile.column(feature.name) else { return nil }
        name = feature.name
        isCategorical = feature.isCategorical
        if feature.isCategorical {
            guard let counts = column.categories else { return nil }
            var byName: [String: Int] = [:]
            for c in counts { byName[c.value] = c.count }
            edges = []
            expected = feature.categories.map { Double(byName[$0] ?? 0) } + [0, Double(column.nullCount)]
            cdf = nil
        } else {
            guard let h = column.histogram else { return nil }
            edges = h.edges
            expected = h.counts.map(Double.init) + [Double(column.nullCount)]
            cdf = ReferenceCDF(column, levels: profile.quantileLevels)
        }
    }

    /// Bin of a live value (NaN = missing).
    public func bin(_ v: Double) -> Int {
        let missing = expected.count - 1
        if v.isNaN { return missing }
        if isCategorical {
            let c = Int(v)
            return c >= 0 && c < missing - 1 ? c : missing - 1
        }
        return Histogram.bin(v, edges: edges)
    }
}

/// Sliding windows of the last `capacity` rows, one per feature; thread-safe.
public final class DriftMonitor: Sendable {
    struct Window {
        var values: [Double]  // ring buffer, row-major by feature: values[slot * nf + j]
        var next = 0
        var filled = 0
    }

    public let references: [FeatureReference?]
    public let capacity: Int
    private let window: Mutex<Window>

    public init(references: [FeatureReference?], capacity: Int) {
        self.references = references
        self.capacity = max(1, capacity)
        window = Mutex(Window(values: [Double](repeating: .nan, count: max(1, capacity) * references.count)))
    }

    public convenience init?(model: ServedModel, capacity: Int) {
        guard let profile = model.referenceProfile else { return nil }
        self.init(references: model.features.map { FeatureReference(feature: $0, profile: profile) }, capacity: capacity)
    }

    /// Adds scored rows (row-major, `references.count` values per row).
    public func observe(_ values: [Double], rows: Int) {
        let nf = references.count
        guard nf > 0, values.count >= rows * nf else { return }
        // Only the last `capacity` rows of a large batch can stay in the window.
        let start = max(0, rows - capacity)
        window.withLock { w in
            for r in start..<rows {
                let base = w.next * nf
                for j in 0..<nf { w.values[base + j] = values[r * nf + j] }
                w.next = (w.next + 1) % capacity
                w.filled = min(w.filled + 1, capacity)
            }
        }
    }

    public struct FeatureDrift: Sendable, Equatable {
        public var feature: String
        public var psi: Double
        /// nil for categorical features (KS needs an order).
        public var ks: Double?
    }

    public var rowCount: Int { window.withLock { $0.filled } }

    /// PSI and KS of every feature with a reference, over the current window.
    public func snapshot() -> [FeatureDrift] {
        let nf = references.count
        let (values, filled) = window.withLock { w in (w.values, w.filled) }
        guard filled > 0 else { return [] }
        var out: [FeatureDrift] = []
        for (j, ref) in references.enumerated() {
            guard let ref else { continue }
            var actual = [Double](repeating: 0, count: ref.expected.count)
            var present: [Double] = []
            present.reserveCapacity(filled)
            for s in 0..<filled {
                let v = values[s * nf + j]
                actual[ref.bin(v)] += 1
                if !v.isNaN { present.append(v) }
            }
            var ks: Double?
            if let cdf = ref.cdf {
                present.sort()
                ks = Drift.ks(sortedLive: present, referenceCDF: cdf)
            }
            out.append(FeatureDrift(feature: ref.name, psi: Drift.psi(expected: ref.expected, actual: actual), ks: ks))
        }
        return out
    }
}
