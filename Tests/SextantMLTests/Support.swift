import Foundation
@testable import SextantML

/// A fresh directory under the system temp dir.
func makeTempDir(_ name: String = "sextant-ml") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Parses CSV text with the given column kinds.
func parseCSV(_ text: String, threads: Int = 1, kinds: [String: CSVColumnKind]) throws -> CSVTable {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes { try CSVParser.parse($0, threads: threads) { _ in kinds } }
}

func numeric(_ t: CSVTable, _ name: String) -> [Double] {
    if case .numeric(let v)? = t.columns[name] { return v }
    return []
}

/// Error message of a throwing expression ("" when it did not throw).
func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch let e as TrainerError { return e.message } catch { return "\(error)" }
}

/// Deterministic synthetic binary classification data: label depends on a few features.
struct Synthetic {
    var columns: [[Double]]
    var labels: [Double]

    init(rows: Int, features: Int = 6, seed: UInt64 = 1, missingRate: Double = 0) {
        var rng = SplitMix64(seed: seed)
        columns = Array(repeating: [], count: features)
        labels = []
        for _ in 0..<rows {
            var x: [Double] = []
            for _ in 0..<features { x.append(rng.nextGaussian()) }
            let z = 1.5 * x[0] - 1.0 * x[1] + 0.8 * x[2] * x[3] + 0.3 * rng.nextGaussian()
            labels.append(z > 0.4 ? 1 : 0)
            for j in 0..<features { columns[j].append(rng.nextUnit() < missingRate ? .nan : x[j]) }
        }
    }

    var matrix: FeatureMatrix {
        FeatureMatrix(names: (0..<columns.count).map { "x\($0)" }, columns: columns,
                      isCategorical: Array(repeating: false, count: columns.count),
                      levels: Array(repeating: [], count: columns.count))
    }

    func csv() -> String {
        var s = (0..<columns.count).map { "x\($0)" }.joined(separator: ",") + ",label\n"
        for i in 0..<labels.count {
            s += columns.map { $0[i].isNaN ? "" : String($0[i]) }.joined(separator: ",") + ",\(Int(labels[i]))\n"
        }
        return s
    }
}

/// Trains through the internal API on all rows.
func trainGBDT(_ x: FeatureMatrix, labels: [Double], params: GBDTParameters,
               validation: [Int]? = nil) -> (GBDTResult, BinCuts) {
    let rows = Array(0..<x.rowCount).filter { !(validation ?? []).contains($0) }
    let cuts = BinCuts.fit(x, rows: rows, maxBin: params.maxBin, threads: params.threads)
    let bins = BinnedMatrix(x, rows: rows, cuts: cuts, threads: params.threads)
    var valid: (x: BinnedMatrix, labels: [Double], weights: [Double]?)?
    if let validation {
        valid = (BinnedMatrix(x, rows: validation, cuts: cuts, threads: 1), validation.map { labels[$0] }, nil)
    }
    return (GradientBoosting.train(bins, labels: rows.map { labels[$0] }, cuts: cuts, params: params, validation: valid), cuts)
}

func artifact(from result: GBDTResult, cuts: BinCuts, x: FeatureMatrix) throws -> ModelArtifact {
    let specs = x.names.enumerated().map { j, n in
        FeatureSpec(name: n, type: x.isCategorical[j] ? .categorical : .numeric, categories: x.isCategorical[j] ? x.levels[j] : nil)
    }
    var a = ModelArtifact(modelName: "t", algorithm: .gradientBoosting, features: specs, baseScore: result.baseScore,
                          trees: result.trees.map { $0.arrays(cuts: cuts) }, linear: nil, threshold: 0.5, hyperparameters: [:])
    try a.compile()
    return a
}
