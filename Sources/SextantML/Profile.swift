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
    ///
    /// Over ranks (`collective`), each rank passes its shard of the rows, which start at global row
    /// `rowOffset`: the sample takes the same global rows, sums are exact (`ExactSum`) and counts
    /// are integers, so every rank gets the profile one process would compute over all rows.
    public static func build(_ x: FeatureMatrix, labels: [Double], threads: Int, sampleSize: Int = 100_000,
                             collective: any Collective = SingleProcess(), rowOffset: Int = 0) throws -> ReferenceProfile {
        let f = x.featureCount, n = x.rowCount
        let totalRows = try collective.counts(n).all.reduce(0, +)
        let stride = max(1, totalRows / sampleSize)
        // Pass 1: counts, sums, extremes and the sample of every column.
        let firsts = ResultSlots<FirstPass>(count: f)
        parallelFor(f, threads: threads) { j in
            firsts.set(j, firstPass(values: x.columns[j], categorical: x.isCategorical[j], levels: x.levels[j].count,
                                    stride: stride, rowOffset: rowOffset))
        }
        var first = firsts.all.map { $0 ?? FirstPass() }
        var labelSum = ExactSum()
        for y in labels { labelSum.add(y) }
        if collective.isDistributed {
            let counts = try collective.allreduceSum(first.flatMap { [Int64($0.present)] + $0.levelCounts.map(Int64.init) })
            var sums = try ExactSum.allreduce(first.map(\.sum) + [labelSum], collective)
            labelSum = sums.removeLast()
            let extremes = try collective.allreduceMax(first.flatMap { [-$0.lo, $0.hi] })
            let samples = try collective.allgather(Wire.pack(first.map { Wire.bytes($0.sample) })).map { try Wire.unpack($0) }
            var at = 0
            for j in 0..<f {
                first[j].present = Int(counts[at]); at += 1
                for c in 0..<first[j].levelCounts.count { first[j].levelCounts[c] = Int(counts[at]); at += 1 }
                first[j].sum = sums[j]
                first[j].lo = -extremes[2 * j]; first[j].hi = extremes[2 * j + 1]
                first[j].sample = samples.flatMap { Wire.doubles($0[j]) }
            }
            // No sampled row held a value (sparse column): the sample is every present value.
            let empty = (0..<f).filter { !x.isCategorical[$0] && first[$0].sample.isEmpty && first[$0].present > 0 }
            if !empty.isEmpty {
                let all = try collective.allgather(Wire.pack(empty.map { j in Wire.bytes(x.columns[j].filter { !$0.isNaN }) })).map { try Wire.unpack($0) }
                for (k, j) in empty.enumerated() { first[j].sample = all.flatMap { Wire.doubles($0[k]) } }
            }
        } else {
            for j in 0..<f where !x.isCategorical[j] && first[j].sample.isEmpty && first[j].present > 0 {
                first[j].sample = x.columns[j].filter { !$0.isNaN }
            }
        }
        // Pass 2: squared deviations from the mean and the histogram counts.
        let frozen = first
        let seconds = ResultSlots<(ExactSum, [Int])>(count: f)
        parallelFor(f, threads: threads) { j in
            guard !x.isCategorical[j], frozen[j].present > 0 else { seconds.set(j, (ExactSum(), [])); return }
            let mean = frozen[j].mean
            let edges = frozen[j].edges
            var m2 = ExactSum()
            m2.addPresent(x.columns[j]) { v in let d = v - mean; return d * d }
            var counts = [Int](repeating: 0, count: edges.count + 1)
            for v in x.columns[j] where !v.isNaN { counts[Histogram.bin(v, edges: edges)] += 1 }
            seconds.set(j, (m2, counts))
        }
        var second = seconds.all.map { $0 ?? (ExactSum(), []) }
        if collective.isDistributed {
            let m2 = try ExactSum.allreduce(second.map(\.0), collective)
            let counts = try collective.allreduceSum(second.flatMap { $0.1.map(Int64.init) })
            var at = 0
            for j in 0..<f {
                second[j].0 = m2[j]
                for c in 0..<second[j].1.count { second[j].1[c] = Int(counts[at]); at += 1 }
            }
        }
        let columns = (0..<f).map { j in
            finish(name: x.names[j], rows: totalRows, first: frozen[j], m2: second[j].0, counts: second[j].1,
                   categorical: x.isCategorical[j], levels: x.levels[j])
        }
        return ReferenceProfile(rows: totalRows, quantileLevels: levels, columns: columns,
                                positiveRate: totalRows == 0 ? 0 : labelSum.value / Double(totalRows))
    }

    /// What one pass over a column's rows gives: present values, their exact sum, extremes, the
    /// systematic sample (rows whose global index is a multiple of the stride); per-level counts
    /// for a categorical column.
    struct FirstPass: Sendable {
        var present = 0
        var sum = ExactSum()
        var lo = Double.infinity, hi = -Double.infinity
        var sample: [Double] = []
        var levelCounts: [Int] = []
        var mean: Double { present > 0 ? sum.value / Double(present) : 0 }
        /// Sorted sample, ten equal-frequency bins (deciles), merged where values repeat.
        var sorted: [Double] { sample.sorted() }
        var edges: [Double] {
            let s = sorted
            var edges: [Double] = []
            for d in 1..<10 {
                let e = quantile(s, Double(d) / 10)
                if e > lo, edges.last.map({ e > $0 }) ?? true { edges.append(e) }
            }
            return edges
        }
    }

    static func firstPass(values: [Double], categorical: Bool, levels: Int, stride: Int, rowOffset: Int) -> FirstPass {
        var p = FirstPass()
        if categorical {
            p.levelCounts = [Int](repeating: 0, count: levels)
            for v in values where !v.isNaN {
                p.present += 1
                if Int(v) >= 0, Int(v) < levels { p.levelCounts[Int(v)] += 1 }
            }
            return p
        }
        for v in values where !v.isNaN {
            p.present += 1
            p.lo = Swift.min(p.lo, v)
            p.hi = Swift.max(p.hi, v)
        }
        p.sum.addPresent(values)
        var i = (stride - rowOffset % stride) % stride
        while i < values.count { if !values[i].isNaN { p.sample.append(values[i]) }; i += stride }
        return p
    }

    static func finish(name: String, rows n: Int, first: FirstPass, m2: ExactSum, counts: [Int], categorical: Bool,
                       levels: [String]) -> ColumnProfile {
        let nulls = n - first.present
        if categorical {
            let cats = zip(levels, first.levelCounts).map { CategoryCount(value: $0, count: $1) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
            return ColumnProfile(name: name, type: .categorical, count: n, nullCount: nulls,
                                 nullRatio: n > 0 ? Double(nulls) / Double(n) : 0, categories: cats)
        }
        let present = first.present
        guard present > 0 else {
            return ColumnProfile(name: name, type: .numeric, count: n, nullCount: nulls, nullRatio: n > 0 ? 1 : 0)
        }
        let sample = first.sorted
        let quantiles = ReferenceProfile.levels.map { q in quantile(sample, q) }
        return ColumnProfile(name: name, type: .numeric, count: n, nullCount: nulls,
                             nullRatio: Double(nulls) / Double(n), mean: first.mean,
                             variance: present > 1 ? m2.value / Double(present - 1) : 0, min: first.lo, max: first.hi,
                             quantiles: quantiles, histogram: Histogram(edges: first.edges, counts: counts))
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
