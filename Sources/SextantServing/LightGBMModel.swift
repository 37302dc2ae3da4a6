// LightGBM text models (`Booster.save_model("model.txt")`) scored with LightGBM's own arithmetic:
// features and thresholds in double, "go left when value <= threshold", missing values by each
// split's missing type (None: as 0; Zero: 0 and NaN take the default side; NaN: NaN takes it),
// categorical splits send the categories in their bit set left, leaf values summed in double per
// class (tree i belongs to class i mod K), then the objective's transform.
import Foundation

public struct LightGBMModel: Sendable {
    struct Node: Sendable {
        var feature: Int32
        var threshold: Double
        /// Children: >= 0 an inner node of the same tree, < 0 the leaf ~child.
        var left: Int32
        var right: Int32
        var defaultLeft: Bool
        /// 0 none, 1 zero, 2 NaN (LightGBM's `MissingType`).
        var missingType: UInt8
        /// Start and end of the categorical split's bit set in `categoryBits`; start -1 for numeric.
        var categoryStart: Int32
        var categoryEnd: Int32
    }

    struct Tree: Sendable {
        var nodes: [Node]
        var leaves: [Double]
        /// Training rows per node (`internal_count`, then `leaf_count`), TreeSHAP's covers as
        /// LightGBM's `data_count`; empty when the file has no counts.
        var counts: [Double] = []
    }

    public enum Transform: Sendable, Equatable {
        case identity, exp, sigmoid(Double), softmax
    }

    public let featureNames: [String]
    public let objective: String
    public let transform: Transform
    /// Values per row: classes for multiclass, else 1.
    public let outputs: Int
    let trees: [Tree]
    let categoryBits: [UInt32]
    /// The forest as TreeSHAP walks it, or why it cannot (`LightGBMExplain.swift`).
    let explanation: Result<LightGBMSHAPTable, LightGBMExplainRefusal>

    public var featureCount: Int { featureNames.count }

    /// LightGBM's `kZeroThreshold`: values this close to 0 count as zero for missing type Zero.
    static let zeroThreshold = 1e-35

    public init(text: String) throws(ModelLoadError) {
        var header: [String: String] = [:]
        var blocks: [[String: String]] = []
        var current: [String: String]? = nil
        var ended = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line == "end of trees" { ended = true; break }
            if line.hasPrefix("Tree=") {
                if let current { blocks.append(current) }
                current = [:]
                continue
            }
            // `average_output` (boosting rf) is a line without a value.
            if line == "average_output" { header[line] = "" }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]), value = String(line[line.index(after: eq)...])
            if current != nil { current?[key] = value } else { header[key] = value }
        }
        if let current { blocks.append(current) }
        guard ended else { throw ModelLoadError("LightGBM model: no 'end of trees' line; save it with Booster.save_model(\"model.txt\")") }

        guard let objectiveLine = header["objective"] else { throw ModelLoadError("LightGBM model: missing 'objective'") }
        let words = objectiveLine.split(separator: " ").map(String.init)
        let objective = words.first ?? ""
        var options: [String: String] = [:]
        for w in words.dropFirst() {
            let kv = w.split(separator: ":", maxSplits: 1).map(String.init)
            options[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        self.objective = objective
        let numClass = Int(header["num_class"] ?? "1") ?? 0
        let perIteration = Int(header["num_tree_per_iteration"] ?? "1") ?? 0
        switch objective {
        case "binary":
            guard let s = Double(options["sigmoid"] ?? "1"), s > 0 else {
                throw ModelLoadError("LightGBM model: objective '\(objectiveLine)' has no positive sigmoid")
            }
            transform = .sigmoid(s)
        case "regression", "regression_l1", "huber", "fair", "quantile", "mape":
            if options["sqrt"] != nil {
                throw ModelLoadError("LightGBM model: objective '\(objectiveLine)': reg_sqrt is not supported")
            }
            transform = .identity
        case "poisson", "gamma", "tweedie":
            transform = .exp
        case "multiclass":
            transform = .softmax
        default:
            throw ModelLoadError("LightGBM model: objective '\(objective)' is not supported (supported: binary, multiclass, "
                + "regression, regression_l1, huber, fair, quantile, mape, poisson, gamma, tweedie)")
        }
        let k = objective == "multiclass" ? numClass : 1
        guard k >= 1, perIteration == k else {
            throw ModelLoadError("LightGBM model: num_class=\(numClass) and num_tree_per_iteration=\(perIteration) do not fit objective '\(objective)'")
        }
        outputs = k
        if header["average_output"] != nil {
            throw ModelLoadError("LightGBM model: average_output (boosting rf) is not supported")
        }
        guard let maxFeature = Int(header["max_feature_idx"] ?? ""), maxFeature >= 0 else {
            throw ModelLoadError("LightGBM model: max_feature_idx is missing or negative")
        }
        let names = (header["feature_names"] ?? "").split(separator: " ").map(String.init)
        guard names.isEmpty || names.count == maxFeature + 1 else {
            throw ModelLoadError("LightGBM model: \(names.count) feature_names for max_feature_idx=\(maxFeature)")
        }
        featureNames = names.isEmpty ? (0...maxFeature).map { "Column_\($0)" } : names
        guard !blocks.isEmpty, blocks.count % k == 0 else {
            throw ModelLoadError("LightGBM model: \(blocks.count) trees is not a multiple of \(k) trees per iteration")
        }
        var trees: [Tree] = [], bits: [UInt32] = []
        for (t, block) in blocks.enumerated() {
            trees.append(try Self.tree(block, index: t, featureCount: maxFeature + 1, bits: &bits))
        }
        self.trees = trees
        categoryBits = bits
        explanation = LightGBMSHAPTable.build(trees)
    }

    static func numbers<T: LosslessStringConvertible>(_ block: [String: String], _ key: String, _ t: Int, count: Int) throws(ModelLoadError) -> [T] {
        guard count > 0 else { return [] }
        guard let text = block[key] else { throw ModelLoadError("LightGBM model: tree \(t): missing '\(key)'") }
        var out: [T] = []
        for part in text.split(separator: " ") {
            guard let v = T(String(part)) else { throw ModelLoadError("LightGBM model: tree \(t): '\(key)' holds '\(part)'") }
            out.append(v)
        }
        guard out.count == count else {
            throw ModelLoadError("LightGBM model: tree \(t): '\(key)' has \(out.count) values, expected \(count)")
        }
        return out
    }

    static func tree(_ block: [String: String], index t: Int, featureCount: Int, bits: inout [UInt32]) throws(ModelLoadError) -> Tree {
        guard let leafCount = Int(block["num_leaves"] ?? ""), leafCount >= 1 else {
            throw ModelLoadError("LightGBM model: tree \(t): num_leaves is missing or below 1")
        }
        if (block["is_linear"] ?? "0") != "0" { throw ModelLoadError("LightGBM model: tree \(t): linear trees are not supported") }
        let leaves: [Double] = try numbers(block, "leaf_value", t, count: leafCount)
        guard leaves.allSatisfy(\.isFinite) else { throw ModelLoadError("LightGBM model: tree \(t): a leaf_value is not finite") }
        let inner = leafCount - 1
        let feature: [Int] = try numbers(block, "split_feature", t, count: inner)
        let threshold: [Double] = try numbers(block, "threshold", t, count: inner)
        let decision: [Int] = try numbers(block, "decision_type", t, count: inner)
        let left: [Int] = try numbers(block, "left_child", t, count: inner)
        let right: [Int] = try numbers(block, "right_child", t, count: inner)
        let catCount = Int(block["num_cat"] ?? "0") ?? -1
        guard catCount >= 0 else { throw ModelLoadError("LightGBM model: tree \(t): num_cat is not a count") }
        let boundaries: [Int] = catCount > 0 ? try numbers(block, "cat_boundaries", t, count: catCount + 1) : []
        let catWords: [UInt32] = catCount > 0 ? try numbers(block, "cat_threshold", t, count: boundaries.last ?? 0) : []
        guard boundaries.first ?? 0 == 0, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw ModelLoadError("LightGBM model: tree \(t): cat_boundaries are not increasing from 0")
        }
        let offset = bits.count
        bits.append(contentsOf: catWords)
        var nodes: [Node] = []
        for i in 0..<inner {
            guard (0..<featureCount).contains(feature[i]) else {
                throw ModelLoadError("LightGBM model: tree \(t) node \(i): split feature \(feature[i]) out of range")
            }
            for child in [left[i], right[i]] {
                guard child >= 0 ? child < inner && child > i : ~child < leafCount else {
                    throw ModelLoadError("LightGBM model: tree \(t) node \(i): child \(child) out of range")
                }
            }
            let d = decision[i]
            var start: Int32 = -1, end: Int32 = -1
            if d & 1 != 0 {
                let c = Int(threshold[i])
                guard Double(c) == threshold[i], (0..<catCount).contains(c) else {
                    throw ModelLoadError("LightGBM model: tree \(t) node \(i): categorical threshold \(threshold[i]) names no cat_boundaries entry")
                }
                start = Int32(offset + boundaries[c]); end = Int32(offset + boundaries[c + 1])
            } else if threshold[i].isNaN {
                throw ModelLoadError("LightGBM model: tree \(t) node \(i): threshold is NaN")
            }
            nodes.append(Node(feature: Int32(feature[i]), threshold: threshold[i], left: Int32(left[i]), right: Int32(right[i]),
                              defaultLeft: d & 2 != 0, missingType: UInt8((d >> 2) & 3), categoryStart: start, categoryEnd: end))
        }
        return Tree(nodes: nodes, leaves: leaves, counts: try counts(block, index: t, leaves: leafCount))
    }

    /// `internal_count` and `leaf_count` (training rows per node, which TreeSHAP weighs by): empty
    /// for a one-leaf tree or a file written without them; malformed ones refuse the model.
    static func counts(_ block: [String: String], index t: Int, leaves leafCount: Int) throws(ModelLoadError) -> [Double] {
        guard leafCount > 1, block["internal_count"] != nil || block["leaf_count"] != nil else { return [] }
        let inner: [Double] = try numbers(block, "internal_count", t, count: leafCount - 1)
        let leaves: [Double] = try numbers(block, "leaf_count", t, count: leafCount)
        let counts = inner + leaves
        guard counts.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw ModelLoadError("LightGBM model: tree \(t): internal_count and leaf_count must be counts (finite, not negative)")
        }
        return counts
    }

    /// The leaf row `x` reaches in `tree` (LightGBM's `Tree::GetLeaf`). Children point to higher
    /// node indices only (checked at load), so every walk ends.
    @inline(__always)
    func leaf(_ tree: Tree, _ x: UnsafePointer<Double>) -> Int {
        guard !tree.nodes.isEmpty else { return 0 }
        var i: Int32 = 0
        while i >= 0 {
            let n = tree.nodes[Int(i)]
            i = goesLeft(n, x[Int(n.feature)]) ? n.left : n.right
        }
        return Int(~i)
    }

    @inline(__always)
    func goesLeft(_ n: Node, _ value: Double) -> Bool {
        var v = value
        if n.categoryStart >= 0 {
            // Categorical: NaN goes right; the value is truncated to an int (-0.5 is category 0)
            // and negative ones (and those past Int32, which the C++ cast makes negative) go right;
            // those in the bit set go left.
            guard v > -1, v < 2_147_483_648 else { return false }
            let c = Int(v), word = Int(n.categoryStart) + c / 32
            return word < Int(n.categoryEnd) && (categoryBits[word] >> UInt32(c % 32)) & 1 != 0
        }
        if v.isNaN && n.missingType != 2 { v = 0 }
        if (n.missingType == 1 && abs(v) <= Self.zeroThreshold) || (n.missingType == 2 && v.isNaN) {
            return n.defaultLeft
        }
        return v <= n.threshold
    }

    /// Raw scores (before the transform), `outputs` per row.
    public func margins(_ values: [Double], rows: Int) -> [Double] {
        let nf = featureCount, k = outputs
        guard rows > 0, values.count >= rows * nf else { return [] }
        var out = [Double](repeating: 0, count: rows * k)
        values.withUnsafeBufferPointer { vb in
            guard let x = vb.baseAddress else { return }
            for r in 0..<rows {
                let row = x + r * nf
                for (t, tree) in trees.enumerated() { out[r * k + t % k] += tree.leaves[leaf(tree, row)] }
            }
        }
        return out
    }

    /// Predictions, `outputs` per row: what `lightgbm.Booster.predict` returns.
    public func predictions(_ values: [Double], rows: Int) -> [Double] {
        var out = margins(values, rows: rows)
        switch transform {
        case .identity: break
        case .exp: for i in out.indices { out[i] = exp(out[i]) }
        case .sigmoid(let s): for i in out.indices { out[i] = 1 / (1 + exp(-s * out[i])) }
        case .softmax:
            let k = outputs
            for r in 0..<rows {
                var top = out[r * k]
                for g in 1..<k { top = max(top, out[r * k + g]) }
                var sum = 0.0
                for g in 0..<k { out[r * k + g] = exp(out[r * k + g] - top); sum += out[r * k + g] }
                for g in 0..<k { out[r * k + g] /= sum }
            }
        }
        return out
    }
}
