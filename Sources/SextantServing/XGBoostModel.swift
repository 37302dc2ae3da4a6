// XGBoost JSON models (`Booster.save_model("model.json")`) scored with XGBoost's own arithmetic:
// features and thresholds in 32-bit floats, "go left when value < split_condition", NaN follows
// `default_left`, leaf values summed onto the margin of `base_score`.
import Foundation
import SextantJSON

/// A gradient-boosted forest read from XGBoost's JSON model format (XGBoost 1.x to 3.x).
public struct XGBoostForest: Sendable {
    /// One node; children are absolute indices into `nodes`, -1 marks a leaf.
    struct Node: Sendable {
        var condition: Float  // split condition, or the leaf value for leaves
        var feature: Int32
        var left: Int32
        var right: Int32
        var defaultLeft: Bool
    }

    public let featureNames: [String]
    public let objective: String
    /// Margin every prediction starts from (logit of `base_score` for logistic objectives).
    public let baseMargin: Float
    let roots: [Int32]
    let nodes: [Node]

    public var featureCount: Int { featureNames.count }
    public var treeCount: Int { roots.count }

    /// Objectives whose output is sigmoid(margin): the binary classifiers the server explains.
    static let logisticObjectives: Set<String> = ["binary:logistic", "reg:logistic"]

    public init(json data: Data) throws(ModelLoadError) {
        let doc: JSONValue
        do { doc = try JSONValue.parse(data) } catch {
            throw ModelLoadError("XGBoost model: not JSON (\(error)); save it with Booster.save_model(\"model.json\")")
        }
        guard let learner = doc["learner"] else { throw ModelLoadError("XGBoost model: missing 'learner'") }
        guard let objective = learner[path: ["objective", "name"]]?.stringValue else {
            throw ModelLoadError("XGBoost model: missing learner.objective.name")
        }
        guard Self.logisticObjectives.contains(objective) else {
            throw ModelLoadError("XGBoost model: objective '\(objective)' is not supported (expected binary:logistic)")
        }
        self.objective = objective
        let params = learner["learner_model_param"]
        let numFeature = Int(params?["num_feature"]?.stringValue ?? "") ?? params?["num_feature"]?.intValue.map(Int.init) ?? -1
        guard numFeature > 0 else { throw ModelLoadError("XGBoost model: learner_model_param.num_feature is missing or not positive") }
        if let numClass = params?["num_class"]?.stringValue, let k = Int(numClass), k > 1 {
            throw ModelLoadError("XGBoost model: num_class=\(k); only binary models are supported")
        }
        let base = try Self.baseScore(params?["base_score"])
        guard base > 0, base < 1 else {
            throw ModelLoadError("XGBoost model: base_score \(base) must lie in (0, 1) for \(objective)")
        }
        baseMargin = Float(log(base / (1 - base)))

        let names = learner["feature_names"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if names.isEmpty {
            featureNames = (0..<numFeature).map { "f\($0)" }
        } else {
            guard names.count == numFeature else {
                throw ModelLoadError("XGBoost model: \(names.count) feature_names for num_feature=\(numFeature)")
            }
            featureNames = names
        }

        guard let booster = learner["gradient_booster"] else { throw ModelLoadError("XGBoost model: missing gradient_booster") }
        let boosterName = booster["name"]?.stringValue ?? "?"
        guard boosterName == "gbtree" else {
            throw ModelLoadError("XGBoost model: booster '\(boosterName)' is not supported (expected gbtree)")
        }
        guard let trees = booster[path: ["model", "trees"]]?.arrayValue else {
            throw ModelLoadError("XGBoost model: missing gradient_booster.model.trees")
        }
        var roots: [Int32] = [], nodes: [Node] = []
        for (t, tree) in trees.enumerated() {
            roots.append(Int32(nodes.count))
            try Self.appendTree(tree, index: t, featureCount: numFeature, to: &nodes)
        }
        self.roots = roots
        self.nodes = nodes
    }

    /// `base_score` is a string in every version: "5E-1" (1.x/2.x) or "[5E-1]" (3.x, one per target).
    static func baseScore(_ value: JSONValue?) throws(ModelLoadError) -> Double {
        if let d = value?.doubleValue { return d }
        guard var text = value?.stringValue else { return 0.5 }
        text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        let parts = text.split(separator: ",")
        guard parts.count == 1, let d = Double(parts[0].trimmingCharacters(in: .whitespaces)) else {
            throw ModelLoadError("XGBoost model: base_score '\(text)' is not a single number")
        }
        return d
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

    static func appendTree(_ tree: JSONValue, index t: Int, featureCount: Int, to nodes: inout [Node]) throws(ModelLoadError) {
        let left = try ints(tree, "left_children", t), right = try ints(tree, "right_children", t)
        let feature = try ints(tree, "split_indices", t), defaultLeft = try ints(tree, "default_left", t)
        guard let cond = tree["split_conditions"]?.arrayValue else {
            throw ModelLoadError("XGBoost model: tree \(t): missing 'split_conditions'")
        }
        let n = left.count
        guard n > 0, [right.count, feature.count, defaultLeft.count, cond.count].allSatisfy({ $0 == n }) else {
            throw ModelLoadError("XGBoost model: tree \(t): node arrays are empty or differ in length")
        }
        if let types = tree["split_type"]?.arrayValue, types.contains(where: { ($0.intValue ?? 0) != 0 }) {
            throw ModelLoadError("XGBoost model: tree \(t): categorical splits are not supported; one-hot encode instead")
        }
        // Every node reachable exactly once from the root: walks always end at a leaf.
        var seen = [Bool](repeating: false, count: n)
        var stack = [0]
        while let i = stack.popLast() {
            guard !seen[i] else { throw ModelLoadError("XGBoost model: tree \(t): node \(i) is reached twice") }
            seen[i] = true
            if left[i] == -1 { continue }
            guard (0..<n).contains(left[i]), (0..<n).contains(right[i]) else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): child index out of range")
            }
            guard (0..<featureCount).contains(feature[i]) else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): split feature \(feature[i]) out of range")
            }
            stack.append(left[i]); stack.append(right[i])
        }
        let offset = Int32(nodes.count)
        for i in 0..<n {
            guard let c = cond[i].doubleValue else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): split_conditions holds a non-number")
            }
            let leaf = left[i] == -1
            nodes.append(Node(condition: Float(c), feature: leaf ? -1 : Int32(feature[i]),
                              left: leaf ? -1 : offset + Int32(left[i]), right: leaf ? -1 : offset + Int32(right[i]),
                              defaultLeft: defaultLeft[i] != 0))
        }
    }

    /// Probabilities for `rows` rows stored row-major in `values` (NaN = missing).
    ///
    /// Rows go through each tree in blocks of eight, walked in lock-step: the eight walks are
    /// independent, so the CPU overlaps their loads and branches instead of waiting on one
    /// unpredictable branch at a time. Each row still sums its trees in tree order, in float32,
    /// as XGBoost does.
    public func probabilities(_ values: [Double], rows: Int) -> [Double] {
        let nf = featureCount
        guard rows > 0, values.count >= rows * nf else { return [] }
        // XGBoost reads features as float32: convert once, not at every node.
        let features = values.map { Float($0) }
        var margins = [Float](repeating: baseMargin, count: rows)
        let block = 8
        var current = [Int32](repeating: 0, count: block)
        features.withUnsafeBufferPointer { fb in
            nodes.withUnsafeBufferPointer { nb in
                margins.withUnsafeMutableBufferPointer { mb in
                    current.withUnsafeMutableBufferPointer { cur in
                        guard let x = fb.baseAddress, let nodes = nb.baseAddress, let m = mb.baseAddress,
                              let c = cur.baseAddress else { return }
                        var start = 0
                        while start < rows {
                            let count = min(block, rows - start)
                            let base = x + start * nf
                            for root in roots {
                                for k in 0..<count { c[k] = root }
                                var active = true
                                while active {
                                    active = false
                                    for k in 0..<count {
                                        let node = nodes[Int(c[k])]
                                        guard node.feature >= 0 else { continue }
                                        let v = base[k * nf + Int(node.feature)]
                                        let goLeft = v.isNaN ? node.defaultLeft : v < node.condition
                                        c[k] = goLeft ? node.left : node.right
                                        active = true
                                    }
                                }
                                for k in 0..<count { m[start + k] += nodes[Int(c[k])].condition }
                            }
                            start += count
                        }
                    }
                }
            }
        }
        return margins.map { 1 / (1 + exp(-Double($0))) }
    }
}

/// A model could not be loaded; the message names the file part that was wrong.
public struct ModelLoadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
