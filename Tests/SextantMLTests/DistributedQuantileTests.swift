import Foundation
import Testing
@testable import SextantML

/// `groupQuantiles`, the one function behind the leaf refit and start margin of absolute and
/// quantile error in one process and on several ranks: over any split of the rows into
/// contiguous rank blocks it must give the bits one process gives (docs/trainer.md "Training on
/// several ranks"). Ranks are threads here (`InProcessRanks`); DistributedTrainingTests run
/// the whole trainer under mpirun.
@Suite struct DistributedQuantileTests {
    /// Rows with many tied values (a coarse grid) and weights, so the order of ties and of the
    /// weight sums matters; group 7 never gets a row.
    static func rows(_ n: Int, seed: UInt64) -> (values: [Double], weights: [Double], group: [Int]) {
        var rng = SplitMix64(seed: seed)
        var values: [Double] = [], weights: [Double] = [], group: [Int] = []
        for _ in 0..<n {
            let v = rng.nextGaussian()
            values.append(rng.nextUnit() < 0.5 ? (v * 4).rounded() / 4 : v)
            weights.append(0.1 + 3 * rng.nextUnit())
            group.append(Int(rng.next() % 7))
        }
        return (values, weights, group)
    }

    /// Each group's values (and weights) among `rows`, in row order.
    static func groups(_ d: (values: [Double], weights: [Double], group: [Int]), rows: Range<Int>) -> ([[Double]], [[Double]]) {
        var v = [[Double]](repeating: [], count: 8), w = [[Double]](repeating: [], count: 8)
        for r in rows { v[d.group[r]].append(d.values[r]); w[d.group[r]].append(d.weights[r]) }
        return (v, w)
    }

    @Test(arguments: [(0.5, false), (0.5, true), (0.8, true), (0.8, false), (0.03, true)])
    func ranksGiveTheQuantilesOfOneProcess(alpha: Double, weighted: Bool) throws {
        let n = 1_500
        let d = Self.rows(n, seed: UInt64(alpha * 100) + (weighted ? 1 : 0))
        let (v, w) = Self.groups(d, rows: 0..<n)
        let single = try groupQuantiles(v, weights: weighted ? w : nil, alpha: alpha, collective: SingleProcess())
        #expect(single.gatheredBytes == 0)
        #expect(single.quantiles[7] == nil)
        // One process is residualQuantile of each group, as before ranks existed.
        for k in 0..<7 { #expect(single.quantiles[k] == residualQuantile(v[k], weights: weighted ? w[k] : nil, alpha: alpha)) }
        var rng = SplitMix64(seed: 77)
        for size in [2, 3, 4] {
            // Random contiguous blocks; one rank may hold no row at all.
            var cuts = (0..<(size - 1)).map { _ in Int(rng.next() % UInt64(n)) }.sorted()
            if size == 4 { cuts[1] = cuts[0] }
            let bounds = [0] + cuts + [n]
            let results = InProcessRanks(size: size).run { c in
                let (lv, lw) = Self.groups(d, rows: bounds[c.rank]..<bounds[c.rank + 1])
                return try groupQuantiles(lv, weights: weighted ? lw : nil, alpha: alpha, collective: c)
            }
            for (rank, result) in results.enumerated() {
                let got = try result.get()
                #expect(got.quantiles.map { $0?.bitPattern } == single.quantiles.map { $0?.bitPattern },
                        "\(size) ranks (blocks \(bounds)), rank \(rank), alpha \(alpha), weighted \(weighted)")
                // Every rank receives every row's value (and weight) once, plus the 8-byte lengths.
                #expect(got.gatheredBytes == n * (weighted ? 16 : 8) + size * 8 * (weighted ? 16 : 8))
            }
        }
    }

    /// Too many rows for one message: every rank stops with the same error naming the sizes,
    /// none waits in the gather.
    @Test func aGatherAboveTheMessageLimitStopsEveryRank() {
        let results = InProcessRanks(size: 3).run { c in
            try groupQuantiles([[1, 2, 3, 4], []], weights: [[1, 1, 1, 1], []], alpha: 0.5, collective: c, maxMessageBytes: 300)
        }
        for (rank, result) in results.enumerated() {
            guard case .failure(let error as TrainerError) = result else {
                Issue.record("rank \(rank): no error: \(result)")
                continue
            }
            #expect(error.kind == .badInput)
            #expect(error.message.contains("12 rows need 312 bytes, more than one MPI message holds (300 bytes)"), "\(error.message)")
        }
    }

    @Test func startMarginOverRanksIsTheSingleProcessOne() throws {
        let n = 900
        let d = Self.rows(n, seed: 5)
        for objective in [Objective.absoluteError, .quantileError] {
            var params = GBDTParameters()
            params.quantileAlpha = 0.8
            let alpha = objective.leafQuantile(params)
            let single = try objective.baseMargins(labels: d.values, weights: d.weights, classes: 1, alpha: alpha)
            let results = InProcessRanks(size: 3).run { c in
                let block = [0, 200, 650, n]
                let rows = block[c.rank]..<block[c.rank + 1]
                return try objective.baseMargins(labels: Array(d.values[rows]), weights: Array(d.weights[rows]), classes: 1,
                                                 collective: c, alpha: alpha)
            }
            for result in results { #expect(try result.get().map(\.bitPattern) == single.map(\.bitPattern), "\(objective)") }
        }
    }
}
