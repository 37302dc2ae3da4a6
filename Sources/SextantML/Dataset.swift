// The in-memory data set: raw feature columns (categorical ones as codes), labels, and the
// extra columns used for the split and fairness gates.
import Foundation

public struct FeatureMatrix: Sendable {
    public var names: [String]
    /// Column-major raw values; NaN is missing. Categorical features hold their category code.
    public var columns: [[Double]]
    public var isCategorical: [Bool]
    /// Category names per feature (index = code); empty for numeric features.
    public var levels: [[String]]
    /// Per feature, the rare levels grouped into its last level (`CategoryGrouping`); empty when none.
    public var groupedLevels: [[String]] = []
    public var rowCount: Int

    public init(names: [String], columns: [[Double]], isCategorical: [Bool], levels: [[String]]) {
        self.names = names; self.columns = columns; self.isCategorical = isCategorical
        self.levels = levels; self.rowCount = columns.first?.count ?? 0
    }

    public var featureCount: Int { names.count }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> FeatureMatrix {
        var m = FeatureMatrix(names: names, columns: columns.map { c in indices.map { c[$0] } },
                              isCategorical: isCategorical, levels: levels)
        m.groupedLevels = groupedLevels
        return m
    }
}

/// A categorical column kept beside the features (protected attributes, split column).
public struct CategoricalColumn: Sendable, Equatable {
    public var codes: [Int32]
    public var levels: [String]
    public init(codes: [Int32], levels: [String]) { self.codes = codes; self.levels = levels }
}

public struct Dataset: Sendable {
    public var features: FeatureMatrix
    public var labels: [Double]
    public var protected: [String: CategoricalColumn]
    public var splitColumn: CategoricalColumn?
    /// Sample weights (`weightColumn`), finite and >= 0.
    public var weights: [Double]?
    public var rowCount: Int { labels.count }

    public init(features: FeatureMatrix, labels: [Double], protected: [String: CategoricalColumn] = [:],
                splitColumn: CategoricalColumn? = nil, weights: [Double]? = nil) {
        self.features = features; self.labels = labels; self.protected = protected; self.splitColumn = splitColumn
        self.weights = weights
    }

    /// Parses CSV bytes according to `config`: which columns are features, which are categorical,
    /// the target, the protected attributes and the optional split column.
    /// With `shard`, only that rank's line-aligned part of the rows (`CSVParser.parse`).
    public static func load(csv bytes: UnsafeRawBufferPointer, config: TrainingConfig, threads: Int,
                            shard: (index: Int, count: Int)? = nil) throws -> Dataset {
        try load(config: config) { kinds in try CSVParser.parse(bytes, threads: threads, shard: shard, kinds: kinds) }
    }

    /// Builds the data set from a table reader of any format (CSV, Parquet): `read` is given the
    /// function that maps the file's column names to the kinds wanted.
    static func load(config: TrainingConfig,
                     read: (([String]) throws -> [String: CSVColumnKind]) throws -> CSVTable) throws -> Dataset {
        let categorical = Set(config.categoricalFeatures ?? [])
        let protectedNames = config.protectedAttributes ?? config.gates?.fairness?.protectedAttributes ?? []
        let splitName = config.split?.column
        let weightName = config.weightColumn
        let objective = config.objective ?? .binaryLogistic
        var featureNames: [String] = []
        let table = try read { header in
            guard header.contains(config.target) else {
                throw TrainerError.badInput("data: target column '\(config.target)' not found in header (columns: \(header.joined(separator: ", ")))")
            }
            if let features = config.features {
                featureNames = features
            } else {
                let excluded = Set([config.target] + protectedNames + (splitName.map { [$0] } ?? []) + (weightName.map { [$0] } ?? []))
                featureNames = header.filter { !excluded.contains($0) }
            }
            if featureNames.isEmpty { throw TrainerError.badInput("config: no feature columns") }
            if featureNames.contains(config.target) {
                throw TrainerError.badInput("config: features must not contain the target '\(config.target)'")
            }
            for name in categorical where !featureNames.contains(name) {
                throw TrainerError.badInput("config: categoricalFeatures entry '\(name)' is not a feature")
            }
            if let weightName, !header.contains(weightName) {
                throw TrainerError.badInput("data: weight column '\(weightName)' not found in header")
            }
            // Binary labels are read as 0/1 by the parsers; other targets as numbers, checked below.
            var kinds: [String: CSVColumnKind] = [config.target: objective == .binaryLogistic ? .label : .numeric]
            if let weightName { kinds[weightName] = .numeric }
            for name in featureNames { kinds[name] = categorical.contains(name) ? .categorical : .numeric }
            for name in protectedNames where kinds[name] == nil || categorical.contains(name) { kinds[name] = .categorical }
            if let splitName { kinds[splitName] = .categorical }
            return kinds
        }
        var columns: [[Double]] = [], isCat: [Bool] = [], levels: [[String]] = [], grouped: [[String]] = []
        for name in featureNames {
            switch table.columns[name] {
            case .numeric(let v)?:
                columns.append(v); isCat.append(false); levels.append([]); grouped.append([])
            case .categorical(let codes, let lv)?:
                let g = CategoryGrouping(codes: codes, levels: lv, limit: BinnedMatrix.maxCategories)
                columns.append(codes.map { $0 < 0 ? .nan : Double(g.code[Int($0)]) }); isCat.append(true)
                levels.append(g.levels); grouped.append(g.grouped)
            case nil:
                throw TrainerError.badInput("data: feature column '\(name)' not found")
            }
        }
        guard case .numeric(let labels)? = table.columns[config.target] else {
            throw TrainerError.badInput("data: target column '\(config.target)' not found")
        }
        try Self.checkLabels(labels, objective: objective, numClass: config.hyperparameters?.numClass, target: config.target)
        var weights: [Double]?
        if let weightName {
            guard case .numeric(let w)? = table.columns[weightName] else {
                throw TrainerError.badInput("data: weight column '\(weightName)' not found")
            }
            for (i, v) in w.enumerated() where !(v.isFinite && v >= 0) {
                throw TrainerError.badInput("data: weight column '\(weightName)' row \(i + 1): \(v.isNaN ? "missing" : String(v)); weights must be finite numbers >= 0")
            }
            guard w.contains(where: { $0 > 0 }) else { throw TrainerError.badInput("data: weight column '\(weightName)' is 0 on every row") }
            weights = w
        }
        var protected: [String: CategoricalColumn] = [:]
        for name in protectedNames {
            switch table.columns[name] {
            case .categorical(let codes, let lv)?: protected[name] = CategoricalColumn(codes: codes, levels: lv)
            case .numeric(let v)?:
                // A protected attribute that is also a numeric feature: group by its distinct values.
                var index: [Double: Int32] = [:], lv: [String] = []
                let codes = v.map { x -> Int32 in
                    if x.isNaN { return -1 }
                    if let c = index[x] { return c }
                    let c = Int32(lv.count); index[x] = c; lv.append(String(x)); return c
                }
                protected[name] = CategoricalColumn(codes: codes, levels: lv)
            case nil: throw TrainerError.badInput("data: protected attribute column '\(name)' not found")
            }
        }
        var splitColumn: CategoricalColumn?
        if let splitName, case .categorical(let codes, let lv)? = table.columns[splitName] {
            for level in lv where !["train", "validation", "test"].contains(level) {
                throw TrainerError.badInput("data: split column '\(splitName)' has value '\(level)'; expected train, validation or test")
            }
            splitColumn = CategoricalColumn(codes: codes, levels: lv)
        }
        var features = FeatureMatrix(names: featureNames, columns: columns, isCategorical: isCat, levels: levels)
        features.groupedLevels = grouped
        return Dataset(features: features, labels: labels, protected: protected, splitColumn: splitColumn, weights: weights)
    }

    /// Targets of the non-binary objectives: present and finite; counts >= 0; classes whole
    /// numbers in 0..<numClass; Tweedie values >= 0. Rows are numbered from 1 after the header.
    static func checkLabels(_ labels: [Double], objective: Objective, numClass: Int?, target: String) throws {
        guard objective != .binaryLogistic else { return }
        for (i, y) in labels.enumerated() {
            let row = "data: target '\(target)' row \(i + 1)"
            guard y.isFinite else { throw TrainerError.badInput("\(row): \(y.isNaN ? "missing" : String(y)); every row needs a finite target") }
            switch objective {
            case .poisson where y < 0:
                throw TrainerError.badInput("\(row): \(y) is negative; count:poisson needs counts >= 0")
            case .tweedie where y < 0:
                throw TrainerError.badInput("\(row): \(y) is negative; reg:tweedie needs values >= 0")
            case .multiSoftprob:
                guard y >= 0, y == y.rounded(), y < Double(numClass ?? 1000) else {
                    throw TrainerError.badInput("\(row): \(y) is not a class number in 0..<\(numClass ?? 1000) (multi:softprob labels are 0, 1, ..., K-1)")
                }
            default: break
            }
        }
    }
}
