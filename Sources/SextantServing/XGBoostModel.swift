// XGBoost JSON models (`Booster.save_model("model.json")`) scored with XGBoost's own arithmetic:
// features and thresholds in 32-bit floats, "go left when value < split_condition", NaN follows
// `default_left`, leaf values summed onto the margin of `base_score`.
import Dispatch
import Foundation
import SextantJSON

/// A gradient-boosted forest read from XGBoost's JSON model format (XGBoost 1.x to 3.x).
public struct XGBoostForest: Sendable {
    /// One node; children are absolute indices into `nodes`. A leaf points at itself with both
    /// children (and feature 0), so a walk can take a fixed number of steps, the tree's depth,
    /// without testing for leaves; its value is in `leafValues`.
    struct Node: Sendable {
        var condition: Float
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
    /// Levels below each root (0 for a single leaf).
    let depths: [Int32]
    let nodes: [Node]
    /// Leaf value by node index (0 for inner nodes).
    let leafValues: [Float]
    /// The same trees in complete-tree layout (XGBoostScoring.swift), unless they are too deep.
    let complete: CompleteTrees?

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
            let accepted = Self.logisticObjectives.sorted().joined(separator: " or ")
            throw ModelLoadError("XGBoost model: objective '\(objective)' is not supported (expected \(accepted))")
        }
        self.objective = objective
        let params = learner["learner_model_param"]
        let numFeature = Int(params?["num_feature"]?.stringValue ?? "") ?? params?["num_feature"]?.intValue.map(Int.init) ?? -1
        guard numFeature > 0 else { throw ModelLoadError("XGBoost model: learner_model_param.num_feature is missing or not positive") }
        if let numClass = params?["num_class"]?.stringValue, let k = Int(numClass), k > 1 {
            throw ModelLoadError("XGBoost model: num_class=\(k); only binary models are supported")
        }
        // A multi-target model also writes one base_score per target: name the real reason first.
        if let targets = Int(params?["num_target"]?.stringValue ?? "") ?? params?["num_target"]?.intValue.map(Int.init), targets > 1 {
            throw ModelLoadError("XGBoost model: num_target=\(targets); only single-target binary models are supported")
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
        var roots: [Int32] = [], depths: [Int32] = [], nodes: [Node] = [], leaves: [Float] = []
        for (t, tree) in trees.enumerated() {
            roots.append(Int32(nodes.count))
            depths.append(try Self.appendTree(tree, index: t, featureCount: numFeature, to: &nodes, leaves: &leaves))
        }
        self.roots = roots
        self.depths = depths
        self.nodes = nodes
        leafValues = leaves
        complete = CompleteTrees(roots: roots, depths: depths, nodes: nodes, leafValues: leaves)
    }

    /// `base_score` is a string in every version: "5E-1" (1.x/2.x) or "[5E-1]" (3.x, one per target).
    static func baseScore(_ value: JSONValue?) throws(ModelLoadError) -> Double {
        if let d = value?.doubleValue { return d }
        guard var text = value?.stringValue else { return 0.5 }
        text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        let parts = text.split(separator: ",")
        guard parts.count == 1, let d = Double(parts[0].trimmingCharacters(in: .whitespaces)) else {
            throw ModelLoadError(parts.count > 1
                ? "XGBoost model: base_score '\(text)' has \(parts.count) values, one per target; only single-target binary models are supported"
                : "XGBoost model: base_score '\(text)' is not a number")
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

    /// Appends one tree's nodes; returns its depth.
    static func appendTree(_ tree: JSONValue, index t: Int, featureCount: Int, to nodes: inout [Node],
                           leaves: inout [Float]) throws(ModelLoadError) -> Int32 {
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
        var stack = [(0, 0)]
        var depth = 0
        while let (i, level) = stack.popLast() {
            guard !seen[i] else { throw ModelLoadError("XGBoost model: tree \(t): node \(i) is reached twice") }
            seen[i] = true
            depth = max(depth, level)
            if left[i] == -1 { continue }
            guard (0..<n).contains(left[i]), (0..<n).contains(right[i]) else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): child index out of range")
            }
            guard (0..<featureCount).contains(feature[i]) else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): split feature \(feature[i]) out of range")
            }
            stack.append((left[i], level + 1)); stack.append((right[i], level + 1))
        }
        let offset = Int32(nodes.count)
        for i in 0..<n {
            guard let c = cond[i].doubleValue else {
                throw ModelLoadError("XGBoost model: tree \(t) node \(i): split_conditions holds a non-number")
            }
            let leaf = left[i] == -1
            let me = offset + Int32(i)
            nodes.append(Node(condition: leaf ? 0 : Float(c), feature: leaf ? 0 : Int32(feature[i]),
                              left: leaf ? me : offset + Int32(left[i]), right: leaf ? me : offset + Int32(right[i]),
                              defaultLeft: defaultLeft[i] != 0))
            leaves.append(leaf ? Float(c) : 0)
        }
        return Int32(depth)
    }

    /// Rows per block: a tree's nodes stay in cache while a block walks it, and the walks of a
    /// block are independent, so the CPU overlaps their loads instead of waiting on one
    /// unpredictable branch at a time.
    static let block = 32
    /// From this many rows a request is scored on two threads.
    public static let parallelRows = 1024

    /// How rows walk the trees: the complete-tree layout when the model has one, or the node walk.
    enum Walk: Sendable { case best, nodes }

    /// Probabilities for `rows` rows stored row-major in `values` (NaN = missing). Each row sums
    /// its trees in tree order, in float32, as XGBoost does.
    public func probabilities(_ values: [Double], rows: Int) -> [Double] { probabilities(values, rows: rows, walk: .best) }

    func probabilities(_ values: [Double], rows: Int, walk: Walk) -> [Double] {
        let nf = featureCount
        guard rows > 0, values.count >= rows * nf else { return [] }
        // XGBoost reads features as float32: convert once, not at every node.
        let features = [Float](unsafeUninitializedCapacity: rows * nf) { buffer, initialized in
            for i in 0..<rows * nf { buffer[i] = Float(values[i]) }
            initialized = rows * nf
        }
        let missing = features.contains { $0.isNaN }
        let complete = walk == .best ? self.complete : nil
        var out = [Double](repeating: 0, count: rows)
        features.withUnsafeBufferPointer { fb in
            out.withUnsafeMutableBufferPointer { ob in
                guard let x = fb.baseAddress, let o = ob.baseAddress else { return }
                let input = UnsafeSendable(x), output = UnsafeSendable(o)
                let blocks = (rows + Self.block - 1) / Self.block
                if rows >= Self.parallelRows {
                    // Two halves of whole blocks, one per core; each row is written by one thread.
                    let half = (blocks + 1) / 2
                    DispatchQueue.concurrentPerform(iterations: 2) { part in
                        let first = part * half * Self.block
                        let last = min(rows, (part + 1) * half * Self.block)
                        if first < last { self.score(input.pointer, from: first, to: last, into: output.pointer, complete: complete, missing: missing) }
                    }
                } else {
                    score(x, from: 0, to: rows, into: o, complete: complete, missing: missing)
                }
            }
        }
        return out
    }

    /// Scores rows `from..<to` into `out[from..<to]`, in the complete-tree layout when given.
    func score(_ x: UnsafePointer<Float>, from: Int, to: Int, into out: UnsafeMutablePointer<Double>,
               complete: CompleteTrees?, missing: Bool) {
        let nf = featureCount
        if let complete {
            complete.score(x, features: nf, from: from, to: to, baseMargin: baseMargin, missing: missing, into: out)
            return
        }
        let block = Self.block
        nodes.withUnsafeBufferPointer { nb in
            leafValues.withUnsafeBufferPointer { lb in
                guard let nodes = nb.baseAddress, let leaves = lb.baseAddress else { return }
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: block) { cur in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { margin in
                        guard let c = cur.baseAddress, let m = margin.baseAddress else { return }
                        var start = from
                        while start < to {
                            let count = min(block, to - start)
                            let base = x + start * nf
                            for k in 0..<count { m[k] = baseMargin }
                            for (t, root) in roots.enumerated() {
                                for k in 0..<count { c[k] = root }
                                // Leaves point at themselves: `depth` steps end every walk on its leaf.
                                for _ in 0..<depths[t] {
                                    for k in 0..<count {
                                        let node = nodes[Int(c[k])]
                                        let v = base[k * nf + Int(node.feature)]
                                        let goLeft = v.isNaN ? node.defaultLeft : v < node.condition
                                        c[k] = goLeft ? node.left : node.right
                                    }
                                }
                                for k in 0..<count { m[k] += leaves[Int(c[k])] }
                            }
                            for k in 0..<count { out[start + k] = 1 / (1 + exp(-Double(m[k]))) }
                            start += count
                        }
                    }
                }
            }
        }
    }
}

/// A pointer handed to the two scoring threads, which touch disjoint rows.
struct UnsafeSendable<P>: @unchecked Sendable {
    let pointer: P
    init(_ pointer: P) { self.pointer = pointer }
}

/// A model could not be loaded; the message names the file part that was wrong.
public struct ModelLoadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
