// Reading the trees of an XGBoost JSON model into `XGBoostForest`'s flat node arrays, checking
// every index on the way: numeric and categorical splits, scalar leaves and the vector leaves of
// multi-output trees (`multi_strategy: multi_output_tree`, XGBoost 2.0+).
import SextantJSON

/// Categories at or above this value (and negative ones) are invalid in XGBoost and go left
/// (`common::InvalidCat`); no split can name one.
let xgboostCategoryLimit = 1 << 24

struct XGBoostTreeReader {
    let featureCount: Int
    let outputs: Int
    var roots: [Int32] = [], depths: [Int32] = [], groups: [Int32] = []
    var nodes: [XGBoostForest.Node] = [], leaves: [Float] = []
    /// Per node: start of its vector leaf in `vectorLeaves`, or -1.
    var vectorLeafStart: [Int32] = []
    var vectorLeaves: [Float] = []
    var categorySets: [[UInt64]] = []
    /// Per node: the tree's hessian sum below it (`sum_hessian`), for TreeSHAP.
    var covers: [Double] = []

    init(featureCount: Int, outputs: Int) {
        self.featureCount = featureCount
        self.outputs = outputs
    }

    static func ints(_ tree: JSONValue, _ key: String, _ t: Int) throws(ModelLoadError) -> [Int] {
        guard let a = tree[key]?.arrayValue else { throw ModelLoadError("XGBoost model: tree \(t): missing '\(key)'") }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for v in a {
            if let i = v.intValue { out.append(Int(i)) } else if let b = v.boolValue { out.append(b ? 1 : 0) } else {
                throw ModelLoadError("XGBoost model: tree \(t): '\(key)' holds a non-integer")
            }
        }
        return out
    }

    static func floats(_ tree: JSONValue, _ key: String, _ t: Int) throws(ModelLoadError) -> [Double] {
        guard let a = tree[key]?.arrayValue else { throw ModelLoadError("XGBoost model: tree \(t): missing '\(key)'") }
        var out: [Double] = []
        out.reserveCapacity(a.count)
        for (i, v) in a.enumerated() {
            guard let d = v.doubleValue else { throw ModelLoadError("XGBoost model: tree \(t): '\(key)'[\(i)] is not a number") }
            out.append(d)
        }
        return out
    }

    /// Appends one tree, adding to output `group` (trees with vector leaves add to all outputs).
    mutating func append(_ tree: JSONValue, index t: Int, group: Int) throws(ModelLoadError) {
        let left = try Self.ints(tree, "left_children", t), right = try Self.ints(tree, "right_children", t)
        let feature = try Self.ints(tree, "split_indices", t), defaultLeft = try Self.ints(tree, "default_left", t)
        let cond = try Self.floats(tree, "split_conditions", t)
        let n = left.count
        guard n > 0, [right.count, feature.count, defaultLeft.count, cond.count].allSatisfy({ $0 == n }) else {
            throw ModelLoadError("XGBoost model: tree \(t): node arrays are empty or differ in length")
        }
        let hessians = (try? Self.floats(tree, "sum_hessian", t)).flatMap { $0.count == n ? $0 : nil }
            ?? [Double](repeating: 0, count: n)
        let leafWidth = Int(tree[path: ["tree_param", "size_leaf_vector"]]?.stringValue ?? "") ?? 1
        // Vector leaves: a leaf's right child is its index into `leaf_weights`, `outputs` values each.
        var leafWeights: [Double] = []
        if leafWidth > 1 {
            guard leafWidth == outputs else {
                throw ModelLoadError("XGBoost model: tree \(t): size_leaf_vector=\(leafWidth) for \(outputs) outputs")
            }
            leafWeights = try Self.floats(tree, "leaf_weights", t)
        }
        // Categorical splits: the categories each one sends right.
        let types = (try? Self.ints(tree, "split_type", t)) ?? []
        var nodeCategories = [Int32](repeating: -1, count: n)
        if types.contains(where: { $0 != 0 }) {
            guard types.count == n else { throw ModelLoadError("XGBoost model: tree \(t): split_type has \(types.count) entries for \(n) nodes") }
            let values = try Self.ints(tree, "categories", t), owners = try Self.ints(tree, "categories_nodes", t)
            let starts = try Self.ints(tree, "categories_segments", t), sizes = try Self.ints(tree, "categories_sizes", t)
            guard owners.count == starts.count, owners.count == sizes.count else {
                throw ModelLoadError("XGBoost model: tree \(t): categories_nodes, categories_segments and categories_sizes differ in length")
            }
            for (i, node) in owners.enumerated() {
                guard (0..<n).contains(node), types[node] == 1, starts[i] >= 0, sizes[i] >= 0, starts[i] + sizes[i] <= values.count else {
                    throw ModelLoadError("XGBoost model: tree \(t): categories entry \(i) (node \(node)) is out of range")
                }
                let chosen = values[starts[i]..<starts[i] + sizes[i]]
                guard chosen.allSatisfy({ (0..<xgboostCategoryLimit).contains($0) }) else {
                    throw ModelLoadError("XGBoost model: tree \(t) node \(node): a category is negative or not below \(xgboostCategoryLimit)")
                }
                var bits = [UInt64](repeating: 0, count: (chosen.max() ?? 0) / 64 + 1)
                for c in chosen { bits[c / 64] |= 1 << UInt64(c % 64) }
                nodeCategories[node] = Int32(categorySets.count)
                categorySets.append(bits)
            }
            for (i, type) in types.enumerated() where left[i] != -1 {
                guard type == 0 || (type == 1 && nodeCategories[i] >= 0) else {
                    throw ModelLoadError("XGBoost model: tree \(t) node \(i): split_type \(type) without its categories")
                }
            }
        }
        // Every node reachable exactly once from the root: walks always end at a leaf.
        var seen = [Bool](repeating: false, count: n)
        var stack = [(0, 0)]
        var depth = 0
        while let (i, level) = stack.popLast() {
            guard !seen[i] else { throw ModelLoadError("XGBoost model: tree \(t): node \(i) is reached twice") }
            seen[i] = true
            depth = max(depth, level)
            if left[i] == -1 {
                if leafWidth > 1, right[i] < 0 || (right[i] + 1) * leafWidth > leafWeights.count {
                    throw ModelLoadError("XGBoost model: tree \(t) node \(i): leaf index \(right[i]) past leaf_weights")
                }
                continue
            }
            guard (0..<n).contains(left[i]), (0..<n).contains(right[i]) else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): child index out of range")
            }
            guard (0..<featureCount).contains(feature[i]) else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): split feature \(feature[i]) out of range")
            }
            stack.append((left[i], level + 1)); stack.append((right[i], level + 1))
        }
        let offset = Int32(nodes.count)
        roots.append(offset)
        depths.append(Int32(depth))
        groups.append(Int32(group))
        for i in 0..<n {
            let leaf = left[i] == -1
            let me = offset + Int32(i)
            nodes.append(XGBoostForest.Node(condition: leaf ? 0 : Float(cond[i]), feature: leaf ? 0 : Int32(feature[i]),
                                            left: leaf ? me : offset + Int32(left[i]), right: leaf ? me : offset + Int32(right[i]),
                                            defaultLeft: defaultLeft[i] != 0, categories: leaf ? -1 : nodeCategories[i]))
            covers.append(hessians[i])
            if leaf && leafWidth > 1 {
                leaves.append(0)
                vectorLeafStart.append(Int32(vectorLeaves.count))
                let first = right[i] * leafWidth
                vectorLeaves.append(contentsOf: leafWeights[first..<first + leafWidth].map { Float($0) })
            } else {
                leaves.append(leaf ? Float(cond[i]) : 0)
                vectorLeafStart.append(-1)
            }
        }
    }
}
