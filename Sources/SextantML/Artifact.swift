// The model artifact, format "sextant-model/v1" (documented field by field in docs/trainer.md),
// and the predictor the model server uses.
import Foundation
import SextantVersion

public let trainerVersion = SextantVersion.version

/// One tree as flat arrays indexed by node id (node 0 is the root).
public struct TreeArrays: Codable, Sendable, Equatable {
    /// Feature index of the split, -1 for a leaf.
    public var splitFeature: [Int]
    /// Numeric split: go left when value < threshold. 0 for leaves and categorical splits.
    public var threshold: [Double]
    public var left: [Int]
    public var right: [Int]
    /// Where a missing value (or an unknown category) goes.
    public var defaultLeft: [Bool]
    /// Leaf output added to the margin (learning rate applied); 0 for inner nodes.
    public var value: [Double]
    /// Categorical split: the category codes that go left (empty for other nodes). Omitted when
    /// the tree has no categorical split.
    public var categories: [[Int]]?
    /// Sum of hessians of training rows in the node ("cover").
    public var cover: [Double]?
    /// Loss reduction of the split (0 for leaves).
    public var gain: [Double]?
}

public struct FeatureSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case numeric, categorical }
    public var name: String
    public var type: Kind
    /// Category names; the code of a category is its index here.
    public var categories: [String]?
    /// Rare categories grouped into the last entry of `categories` (more levels than the bins
    /// hold; `CategoryGrouping`). Absent when none were grouped.
    public var groupedCategories: [String]?

    public init(name: String, type: Kind, categories: [String]? = nil, groupedCategories: [String]? = nil) {
        self.name = name; self.type = type; self.categories = categories
        self.groupedCategories = groupedCategories?.isEmpty == false ? groupedCategories : nil
    }

    /// Code of each known category: its index in `categories`, the last index for a grouped one.
    public var categoryCodes: [String: Int] {
        let cats = categories ?? []
        var codes = Dictionary(cats.enumerated().map { ($1, $0) }, uniquingKeysWith: { x, _ in x })
        if let grouped = groupedCategories, !cats.isEmpty {
            for g in grouped where codes[g] == nil { codes[g] = cats.count - 1 }
        }
        return codes
    }
}

/// Logistic regression: margin = intercept + sum of per-feature terms. Numeric term:
/// weight * (x - mean) / scale, zero when missing (mean imputation). Categorical term: the weight
/// of the category code, zero when missing or unknown.
public struct LinearModel: Codable, Sendable, Equatable {
    public var intercept: Double
    /// One weight per numeric feature, one weight per category for categorical features.
    public var weights: [[Double]]
    public var means: [Double]
    public var scales: [Double]
}

public struct DataLineage: Codable, Sendable, Equatable {
    public var uri: String
    public var version: String?
    public var sha256: String
    public var rows: Int
    public var bytes: Int
    /// `delta` for a Delta table (then `version` is the resolved table version and `sha256` the
    /// digest over `files`); `dvc` for a DVC pointer (`uri` is the pointer, `version` the MD5
    /// unless labelled, `sha256` of the object); absent for a single file, whose bytes `sha256` hashes.
    public var format: String?
    /// The table's data files in read order, each with its size and SHA-256; for `dvc`, the
    /// object read from the remote.
    public var files: [DataFileRecord]?
    /// `dvc`: the MD5 the pointer records (and the object was checked against).
    public var md5: String?
}

public struct ModelArtifact: Codable, Sendable {
    public static let currentFormat = "sextant-model/v1"

    public var format: String
    public var modelName: String
    public var trainerVersion: String
    /// Written by trainers before issue 16 only: the artifact holds nothing that changes between
    /// two runs on the same data and config, so its SHA-256 identifies the model. The training
    /// time is in `metrics.json` and the result summary (`createdAt`).
    public var createdAt: String?
    public var algorithm: Algorithm
    /// An `Objective` raw value: `binary:logistic` (probability = sigmoid(margin)),
    /// `reg:squarederror` (value = margin), `count:poisson` (value = exp(margin)), `multi:softprob`
    /// (class probabilities = softmax of the K margins).
    public var objective: String
    /// Classes of a `multi:softprob` model (K); tree t adds to the margin of class t mod K.
    public var numClass: Int?
    /// Start margin of each class (`multi:softprob` only; `baseScore` is then 0).
    public var baseScores: [Double]?
    public var features: [FeatureSpec]
    /// Margin every prediction starts from (log-odds for binary:logistic).
    public var baseScore: Double
    public var trees: [TreeArrays]?
    public var linear: LinearModel?
    /// Decision threshold used for the reported precision/recall/F1.
    public var threshold: Double
    public var bestIteration: Int?
    public var hyperparameters: [String: Double]
    public var data: DataLineage?
    public var referenceProfile: ReferenceProfile?
    public var metrics: ObjectiveMetrics?

    enum CodingKeys: String, CodingKey {
        case format, modelName, trainerVersion, createdAt, algorithm, objective, numClass, baseScores, features, baseScore, trees, linear
        case threshold, bestIteration, hyperparameters, data, referenceProfile, metrics
    }

    /// Compiled form for fast prediction; built by `load(data:)` and `compile()`.
    public private(set) var predictor: Predictor?

    public init(modelName: String, algorithm: Algorithm, features: [FeatureSpec], baseScore: Double,
                trees: [TreeArrays]?, linear: LinearModel?, threshold: Double, hyperparameters: [String: Double],
                objective: Objective = .binaryLogistic, baseScores: [Double]? = nil) {
        format = Self.currentFormat
        self.modelName = modelName
        self.trainerVersion = SextantML.trainerVersion
        self.algorithm = algorithm
        self.objective = objective.rawValue
        if objective == .multiSoftprob {
            numClass = baseScores?.count
            self.baseScores = baseScores
        }
        self.features = features
        self.baseScore = baseScore
        self.trees = trees
        self.linear = linear
        self.threshold = threshold
        self.hyperparameters = hyperparameters
    }

    /// Decodes and validates an artifact; every structural problem is reported, never trapped on.
    public static func load(data: Data) throws -> ModelArtifact {
        var artifact: ModelArtifact
        do {
            artifact = try JSONDecoder().decode(ModelArtifact.self, from: data)
        } catch {
            throw TrainerError.badInput("model artifact: not a valid sextant-model document: \(error)")
        }
        guard artifact.format == currentFormat else {
            throw TrainerError.badInput("model artifact: unsupported format '\(artifact.format)' (expected \(currentFormat))")
        }
        try artifact.compile()
        return artifact
    }

    public mutating func compile() throws { predictor = try Predictor(self) }

    public func encoded(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Probability of the positive class for one row (feature order as `features`; nil = missing;
    /// categorical features carry the category code).
    public func predictProbability(_ row: [Double?]) throws -> Double {
        guard let predictor else { throw TrainerError.badInput("model artifact: not compiled; use ModelArtifact.load(data:)") }
        return try predictor.probability(row)
    }

    /// Probabilities for many rows (binary:logistic).
    public func predict(rows: [[Double?]]) throws -> [Double] {
        guard let predictor else { throw TrainerError.badInput("model artifact: not compiled; use ModelArtifact.load(data:)") }
        return try rows.map { try predictor.probability($0) }
    }

    /// The prediction of one row: one value (probability, regression value, expected count) or
    /// the K class probabilities of a multiclass model.
    public func predictOutputs(_ row: [Double?]) throws -> [Double] {
        guard let predictor else { throw TrainerError.badInput("model artifact: not compiled; use ModelArtifact.load(data:)") }
        return try predictor.outputs(row)
    }
}

/// Feature values as they arrive in a request.
public enum FeatureValue: Sendable, Equatable {
    case number(Double)
    case string(String)
    case missing
}

/// Flat, validated nodes of all trees for cache-friendly scoring.
public struct Predictor: Sendable {
    /// One tree node; children are absolute indices into `nodes`.
    struct Node: Sendable {
        var threshold: Double   // numeric split threshold, or the leaf value for leaves
        var feature: Int32      // -1 for a leaf
        var left: Int32
        var right: Int32
        var categorySet: Int32  // index into `categoryMasks`, -1 for numeric splits
        var defaultLeft: Bool
    }

    public let featureNames: [String]
    let isCategorical: [Bool]
    let categoryIndex: [[String: Int]]
    let baseScore: Double
    public let objective: Objective
    /// Values per prediction: K class probabilities for multi:softprob, else 1.
    public let outputs: Int
    /// Start margin per output.
    let baseMargins: [Double]
    let roots: [Int32]
    let nodes: [Node]
    let categoryMasks: [[Bool]]
    let linear: LinearModel?
    /// Training hessian sum per node (`cover`), parallel to `nodes`; nil when a tree has none
    /// (then no contributions can be computed). Kept apart so scoring walks compact nodes.
    let covers: [Double]?

    init(_ a: ModelArtifact) throws {
        let nf = a.features.count
        featureNames = a.features.map(\.name)
        isCategorical = a.features.map { $0.type == .categorical }
        categoryIndex = a.features.map(\.categoryCodes)
        baseScore = a.baseScore
        guard let objective = Objective(rawValue: a.objective) else {
            throw TrainerError.badInput("model artifact: unknown objective '\(a.objective)' (known: \(Objective.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.objective = objective
        if objective == .multiSoftprob {
            guard let k = a.numClass, k >= 2, let scores = a.baseScores, scores.count == k else {
                throw TrainerError.badInput("model artifact: multi:softprob needs numClass >= 2 and one baseScores entry per class")
            }
            guard (a.trees?.count ?? 0) % k == 0 else {
                throw TrainerError.badInput("model artifact: multi:softprob with \(k) classes needs a multiple of \(k) trees, got \(a.trees?.count ?? 0)")
            }
            guard a.linear == nil else { throw TrainerError.badInput("model artifact: a linear model is binary:logistic only") }
            outputs = k
            baseMargins = scores
        } else {
            outputs = 1
            baseMargins = [a.baseScore]
        }
        linear = a.linear
        var roots: [Int32] = [], nodes: [Node] = [], masks: [[Bool]] = []
        var covers: [Double]? = []
        for (t, tree) in (a.trees ?? []).enumerated() {
            let n = tree.splitFeature.count
            let lengths = [tree.threshold.count, tree.left.count, tree.right.count, tree.defaultLeft.count, tree.value.count]
            guard n > 0, lengths.allSatisfy({ $0 == n }), tree.categories.map({ $0.count == n }) ?? true else {
                throw TrainerError.badInput("model artifact: tree \(t): node arrays are empty or differ in length")
            }
            let offset = Int32(nodes.count)
            roots.append(offset)
            if let c = tree.cover, c.count == n, c.allSatisfy({ $0.isFinite && $0 >= 0 }) { covers?.append(contentsOf: c) } else { covers = nil }
            for i in 0..<n {
                let f = tree.splitFeature[i]
                guard f < 0 else {
                    guard f < nf else { throw TrainerError.badInput("model artifact: tree \(t) node \(i): feature \(f) out of range") }
                    // Children after their parent: guarantees every walk ends at a leaf.
                    guard tree.left[i] > i, tree.left[i] < n, tree.right[i] > i, tree.right[i] < n else {
                        throw TrainerError.badInput("model artifact: tree \(t) node \(i): child index out of range")
                    }
                    var set: Int32 = -1
                    if let cats = tree.categories?[i], !cats.isEmpty {
                        guard isCategorical[f] else {
                            throw TrainerError.badInput("model artifact: tree \(t) node \(i): category split on numeric feature '\(featureNames[f])'")
                        }
                        let size = a.features[f].categories?.count ?? 0
                        var mask = [Bool](repeating: false, count: size)
                        for c in cats {
                            guard c >= 0, c < size else { throw TrainerError.badInput("model artifact: tree \(t) node \(i): category \(c) out of range") }
                            mask[c] = true
                        }
                        set = Int32(masks.count); masks.append(mask)
                    }
                    nodes.append(Node(threshold: tree.threshold[i], feature: Int32(f), left: offset + Int32(tree.left[i]),
                                      right: offset + Int32(tree.right[i]), categorySet: set, defaultLeft: tree.defaultLeft[i]))
                    continue
                }
                nodes.append(Node(threshold: tree.value[i], feature: -1, left: 0, right: 0, categorySet: -1, defaultLeft: true))
            }
        }
        if let l = a.linear {
            guard l.weights.count == nf, l.means.count == nf, l.scales.count == nf else {
                throw TrainerError.badInput("model artifact: linear model arrays must have one entry per feature")
            }
        }
        self.roots = roots; self.nodes = nodes; self.categoryMasks = masks
        self.covers = a.linear == nil ? covers : nil
    }

    /// Encodes named request values into the feature vector (unknown categories become missing).
    public func encode(_ values: [String: FeatureValue]) throws -> [Double?] {
        try featureNames.enumerated().map { j, name in
            switch values[name] ?? .missing {
            case .missing: return nil
            case .number(let v):
                if isCategorical[j] { return categoryIndex[j][Self.numberText(v)].map(Double.init) }
                return v.isNaN ? nil : v
            case .string(let s):
                if isCategorical[j] { return categoryIndex[j][s].map(Double.init) }
                guard let v = Double(s) else { throw TrainerError.badInput("feature '\(name)': '\(s)' is not a number") }
                return v
            }
        }
    }

    static func numberText(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }

    public func probability(_ row: [Double?]) throws -> Double {
        guard row.count == featureNames.count else {
            throw TrainerError.badInput("expected \(featureNames.count) features, got \(row.count)")
        }
        let values = row.map { $0 ?? .nan }
        return values.withUnsafeBufferPointer { b in sigmoid(margin(b.baseAddress)) }
    }

    /// The `outputs` predictions of one row (nil = missing).
    public func outputs(_ row: [Double?]) throws -> [Double] {
        guard row.count == featureNames.count else {
            throw TrainerError.badInput("expected \(featureNames.count) features, got \(row.count)")
        }
        return predictions(columns: row.map { [$0 ?? .nan] })
    }

    /// Probabilities of a binary classifier for column-major data; the same as `predictions`.
    public func probabilities(columns: [[Double]], threads: Int = 1) -> [Double] {
        predictions(columns: columns, threads: threads)
    }

    /// Predictions for column-major data (NaN = missing), row-major with `outputs` values per row,
    /// in parallel over fixed row blocks.
    public func predictions(columns: [[Double]], threads: Int = 1) -> [Double] {
        let n = columns.first?.count ?? 0, nf = featureNames.count
        guard columns.count == nf else { return [] }
        if outputs > 1 { return multiOutputPredictions(columns: columns, threads: threads) }
        var out = [Double](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let o = SharedMutablePointer(base)
            let blocks = evenRanges(n, parts: max(1, n / 256))
            parallelFor(blocks.count, threads: threads) { b in
                // Transpose a block to row-major so each row's features are adjacent.
                let block = blocks[b]
                var rows = [Double](repeating: 0, count: block.count * max(nf, 1))
                for j in 0..<nf {
                    columns[j].withUnsafeBufferPointer { c in
                        for (k, i) in block.enumerated() { rows[k * nf + j] = c[i] }
                    }
                }
                rows.withUnsafeBufferPointer { r in
                    guard let rb = r.baseAddress else { return }
                    switch self.objective {
                    case .binaryLogistic: for (k, i) in block.enumerated() { o[i] = sigmoid(self.margin(rb + k * nf)) }
                    case .poisson, .tweedie: for (k, i) in block.enumerated() { o[i] = exp(self.margin(rb + k * nf)) }
                    case .squaredError, .absoluteError, .quantileError, .multiSoftprob: for (k, i) in block.enumerated() { o[i] = self.margin(rb + k * nf) }
                    }
                }
            }
        }
        return out
    }

    /// Softmax over the K margins of each row (tree t adds to class t mod K).
    func multiOutputPredictions(columns: [[Double]], threads: Int) -> [Double] {
        let n = columns.first?.count ?? 0, nf = featureNames.count, k = outputs
        var out = [Double](repeating: 0, count: n * k)
        out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let o = SharedMutablePointer(base)
            let blocks = evenRanges(n, parts: max(1, n / 256))
            parallelFor(blocks.count, threads: threads) { b in
                let block = blocks[b]
                var row = [Double](repeating: 0, count: max(nf, 1))
                for i in block {
                    for j in 0..<nf { row[j] = columns[j][i] }
                    let m = o.base + i &* k
                    for c in 0..<k { m[c] = self.baseMargins[c] }
                    row.withUnsafeBufferPointer { r in
                        guard let rb = r.baseAddress else { return }
                        for (t, root) in self.roots.enumerated() { m[t % k] += self.treeValue(root, rb) }
                    }
                    softmax(m, k)
                }
            }
        }
        return out
    }

    /// Leaf value of the tree at `root` for one row.
    @inline(__always)
    func treeValue(_ root: Int32, _ x: UnsafePointer<Double>) -> Double {
        nodes.withUnsafeBufferPointer { np in
            guard let nodes = np.baseAddress else { return 0 }
            return leafValue(nodes, root, x)
        }
    }

    /// The walk from `root` to a leaf: a missing value, or a category code beyond the split's
    /// mask, takes the node's default side.
    @inline(__always)
    private func leafValue(_ nodes: UnsafePointer<Node>, _ root: Int32, _ x: UnsafePointer<Double>) -> Double {
        var n = Int(root)
        while true {
            let node = nodes[n]
            if node.feature < 0 { return node.threshold }
            let v = x[Int(node.feature)]
            let goLeft: Bool
            if v.isNaN {
                goLeft = node.defaultLeft
            } else if node.categorySet >= 0 {
                let mask = categoryMasks[Int(node.categorySet)]
                let c = Int(v)
                goLeft = (c >= 0 && c < mask.count) ? mask[c] : node.defaultLeft
            } else {
                goLeft = v < node.threshold
            }
            n = Int(goLeft ? node.left : node.right)
        }
    }

    /// Margin of one row of `featureNames.count` values (NaN = missing).
    @inline(__always)
    func margin(_ x: UnsafePointer<Double>?) -> Double {
        guard let x else { return baseScore }
        var m = baseScore
        if let l = linear {
            m += l.intercept
            for j in 0..<featureNames.count {
                let v = x[j]
                if v.isNaN { continue }
                if isCategorical[j] {
                    let c = Int(v)
                    if c >= 0, c < l.weights[j].count { m += l.weights[j][c] }
                } else if let w = l.weights[j].first {
                    m += w * (v - l.means[j]) / l.scales[j]
                }
            }
        }
        nodes.withUnsafeBufferPointer { np in
            guard let nodes = np.baseAddress else { return }
            for root in roots { m += leafValue(nodes, root, x) }
        }
        return m
    }
}

extension BinnedTree {
    /// Converts bin splits to raw-value thresholds: bin <= j  <=>  value < cuts[j - 1].
    func arrays(cuts: BinCuts) -> TreeArrays {
        var t = TreeArrays(splitFeature: [], threshold: [], left: [], right: [], defaultLeft: [], value: [],
                           categories: nil, cover: [], gain: [])
        var categories: [[Int]] = []
        var anyCategorical = false
        for node in nodes {
            let f = Int(node.feature)
            t.splitFeature.append(f)
            t.left.append(Int(node.left)); t.right.append(Int(node.right))
            t.defaultLeft.append(node.defaultLeft)
            t.value.append(f < 0 ? node.value : 0)
            t.cover?.append(node.hessian)
            t.gain?.append(node.gain)
            if f >= 0, node.isCategorical {
                anyCategorical = true
                t.threshold.append(0)
                categories.append((0..<cuts.binCount[f]).filter { node.categoryMask.contains(UInt8($0 + 1)) })
            } else if f >= 0 {
                let c = cuts.cuts[f]
                let j = Int(node.bin)
                // Bin 0 is the missing-against-present split: no finite value is below -max.
                t.threshold.append(j == 0 ? -Double.greatestFiniteMagnitude : (j - 1 < c.count ? c[j - 1] : Double.greatestFiniteMagnitude))
                categories.append([])
            } else {
                t.threshold.append(0)
                categories.append([])
            }
        }
        if anyCategorical { t.categories = categories }
        return t
    }
}
