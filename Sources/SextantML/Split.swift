// Train / validation / test split (stratified by label, seeded) and stratified k-fold.
import Foundation
import SextantTrainingContract

public struct DataSplit: Sendable, Equatable {
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]

    /// Splits by the split column when configured, else by the fractions (default 0.8 / 0 / 0.2,
    /// stratified, seed 42). Each part is sorted by row number.
    public static func make(_ data: Dataset, config: TrainingConfig.Split?) throws -> DataSplit {
        if let column = data.splitColumn {
            var parts: [String: [Int]] = [:]
            for (i, code) in column.codes.enumerated() {
                guard code >= 0 else {
                    throw TrainerError.badInput("data: split column '\(config?.column ?? "")' is empty in data row \(i + 1)")
                }
                parts[column.levels[Int(code)], default: []].append(i)
            }
            return DataSplit(train: parts["train"] ?? [], validation: parts["validation"] ?? [], test: parts["test"] ?? [])
        }
        // When any fraction is given the others count 0 (as admission checks them); none: 0.8 / 0 / 0.2.
        let anySet = config?.train != nil || config?.validation != nil || config?.test != nil
        let trainFraction = config?.train ?? (anySet ? 0 : SplitContract.trainerDefault.train)
        let validationFraction = config?.validation ?? (anySet ? 0 : SplitContract.trainerDefault.validation)
        var rng = SplitMix64(seed: config?.seed ?? SplitContract.defaultSeed)
        let groups: [[Int]]
        if config?.stratify ?? true {
            var pos: [Int] = [], neg: [Int] = []
            for (i, y) in data.labels.enumerated() { if y > 0.5 { pos.append(i) } else { neg.append(i) } }
            groups = [neg, pos]
        } else {
            groups = [Array(0..<data.rowCount)]
        }
        var split = DataSplit(train: [], validation: [], test: [])
        for var g in groups {
            g.shuffle(using: &rng)
            let nTrain = Int((Double(g.count) * trainFraction).rounded())
            let nValid = min(g.count - nTrain, Int((Double(g.count) * validationFraction).rounded()))
            split.train += g[0..<nTrain]
            split.validation += g[nTrain..<(nTrain + nValid)]
            split.test += g[(nTrain + nValid)...]
        }
        split.train.sort(); split.validation.sort(); split.test.sort()
        return split
    }

    /// Stratified k-fold assignment of `rows`: fold index per row, seeded.
    public static func folds(rows: [Int], labels: [Double], k: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var fold = [Int](repeating: 0, count: rows.count)
        var pos: [Int] = [], neg: [Int] = []
        for (i, r) in rows.enumerated() { if labels[r] > 0.5 { pos.append(i) } else { neg.append(i) } }
        for var g in [neg, pos] {
            g.shuffle(using: &rng)
            for (t, i) in g.enumerated() { fold[i] = t % k }
        }
        return fold
    }
}
