// Per-column data profile: saved with the model as the reference for drift detection (PSI, KS)
// and checked by the data-quality gate.
import Foundation

public struct Histogram: Codable, Sendable, Equatable {
    /// Inner bin edges e[0] < ... < e[k-2]; bin i holds e[i-1] <= v < e[i] (open at both ends).
    public var edges: [Double]
    /// Non-missing values per bin (edges.count + 1 entries).
    public var counts: [Int]
}

public struct CategoryCount: Codable, Sendable, Equatable {
    public var value: String
    public var count: Int
}

public struct ColumnProfile: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case numeric, categorical }
    public var name: String
    public var type: Kind
    public var count: Int
    public var nullCount: Int
    public var nullRatio: Double
    public var mean: Double?
    public var variance: Double?
    public var min: Double?
    public var max: Double?
    /// Values at `ReferenceProfile.quantileLevels`.
    public var quantiles: [Double]?
    public var histogram: Histogram?
    /// Category frequencies, most frequent first (categorical columns).
    public var categories: [CategoryCount]?
}

public struct ReferenceProfile: Codable, Sendable, Equatable {
    public static let levels: [Double] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    public var rows: Int
    public var quantileLevels: [Double]
    public var columns: [ColumnProfile]
    /// Share of positive labels.
    public var positiveRate: Double

    public func column(_ name: String) -> ColumnProfile? { columns.first { $0.name == name } }

    /// Profiles every feature. Counts, mean and variance are exact; quantiles and histogram edges
    /// come from a systematic sample of at most `sampleSize` values (exact for smaller data).
    public static func build(_ x: FeatureMatrix, labels: [Double], threads: Int, sampleSize: Int = 100_000) -> ReferenceProfile {
        let slots = ResultSlots<ColumnProfile>(count: x.featureCount)
        parallelFor(x.featureCount, threads: threads) { j in
            slots.set(j, profile(name: x.names[j], values: x.columns[j], categorical: x.isCategorical[j],
                                 levels: x.levels[j], sampleSize: sampleSize))
        }
        let positives = labels.reduce(0, +)
        return ReferenceProfile(rows: x.rowCount, quantileLevels: levels, columns: slots.all.compactMap { $0 },
                                positiveRate: labels.isEmpty ? 0 : positives / Double(labels.count))
    }

    static func profile(name: String, values: [Double], categorical: Bool, levels: [String], sampleSize: Int) -> ColumnProfile {
        let n = values.count
        var nulls = 0
        if categorical {
            var counts = [Int](repeating: 0, count: levels.count)
            for v in values {
                if v.isNaN { nulls += 1 } else if Int(v) >= 0, Int(v) < counts.count { counts[Int(v)] += 1 }
            }
            let cats = zip(levels, counts).map { CategoryCount(value: $0, count: $1) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
            return ColumnProfile(name: name, type: .categorical, count: n, nullCount: nulls,
                                 nullRatio: n > 0 ? Double(nulls) / Double(n) : 0, categories: cats)
        }
        // Two passes (sum, then squared deviations): stable enough in Double and free of the
        // per-value division of Welford's update.
        var sum = 0.0, k = 0
        var lo = Double.infinity, hi = -Double.infinity
        for v in values where !v.isNaN {
            k += 1
            sum += v
            lo = Swift.min(lo, v)
            hi = Swift.max(hi, v)
        }
        nulls = n - k
        let mean = k > 0 ? sum / Double(k) : 0
        var m2 = 0.0
        for v in values where !v.isNaN { let d = v - mean; m2 += d * d }
        let present = n - nulls
        guard present > 0 else {
            return ColumnProfile(name: name, type: .numeric, count: n, nullCount: nulls, nullRatio: n > 0 ? 1 : 0)
        }
        let stride = max(1, n / sampleSize)
        var sample: [Double] = []
        sample.reserveCapacity(n / stride + 1)
        var i = 0
        while i < n { if !values[i].isNaN { sample.append(values[i]) }; i += stride }
        if sample.isEmpty { sample = values.filter { !$0.isNaN } }
        sample.sort()
        let quantiles = ReferenceProfile.levels.map { q in quantile(sample, q) }
        // Ten equal-frequency bins (deciles), merged where values repeat.
        var edges: [Double] = []
        for d in 1..<10 {
            let e = quantile(sample, Double(d) / 10)
            if e > lo, edges.last.map({ e > $0 }) ?? true { edges.append(e) }
        }
        var counts = [Int](repeating: 0, count: edges.count + 1)
        for v in values where !v.isNaN { counts[Histogram.bin(v, edges: edges)] += 1 }
        return ColumnProfile(name: name, type: .numeric, count: n, nullCount: nulls,
                             nullRatio: Double(nulls) / Double(n), mean: mean,
                             variance: present > 1 ? m2 / Double(present - 1) : 0, min: lo, max: hi,
                             quantiles: quantiles, histogram: Histogram(edges: edges, counts: counts))
    }

    /// Linear interpolation between order statistics (numpy's default "linear" method).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let pos = q * Double(sorted.count - 1)
        let i = Int(pos.rounded(.down))
        let frac = pos - Double(i)
        if i + 1 >= sorted.count { return sorted[sorted.count - 1] }
        return sorted[i] + (sorted[i + 1] - sorted[i]) * frac
    }
}

extension Histogram {
    /// Bin index of `v`: the number of edges <= v.
    public static func bin(_ v: Double, edges: [Double]) -> Int {
        var lo = 0, hi = edges.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if edges[mid] <= v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
