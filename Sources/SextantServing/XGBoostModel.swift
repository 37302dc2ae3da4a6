// XGBoost JSON models (`Booster.save_model("model.json")`) scored with XGBoost's own arithmetic:
// features and thresholds in 32-bit floats, "go left when value < split_condition", categorical
// splits send the listed categories right, NaN follows `default_left`, leaf values summed in float32
// onto the margin of `base_score` per output, then the objective's link (sigmoid, exp, softmax or
// none), in float32 as XGBoost's `PredTransform`.
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
        /// Index into `categorySets` for a categorical split, -1 for a numeric one.
        var categories: Int32 = -1
    }

    /// What turns the margins into predictions (XGBoost's `PredTransform` per objective).
    public enum Link: String, Sendable {
        case sigmoid, identity, exp, softmax
    }

    /// Objectives the server scores, with their link. Every other objective is refused at load.
    static let links: [String: Link] = [
        "binary:logistic": .sigmoid, "reg:logistic": .sigmoid,
        "reg:squarederror": .identity, "reg:absoluteerror": .identity, "reg:quantileerror": .identity,
        "count:poisson": .exp, "reg:tweedie": .exp, "reg:gamma": .exp,
        "multi:softprob": .softmax,
    ]

    public let featureNames: [String]
    public let objective: String
    public let link: Link
    /// Values per row: classes (multi:softprob), targets (multi-target models) or 1.
    public let outputs: Int
    /// Margin every prediction starts from, per output (`base_score` through the objective's
    /// link inverse: logit, log or none).
    public let baseMargins: [Float]
    public var baseMargin: Float { baseMargins[0] }
    let roots: [Int32]
    /// Levels below each root (0 for a single leaf).
    let depths: [Int32]
    /// The output each tree adds to (`tree_info`); ignored for trees with vector leaves.
    let groups: [Int32]
    let nodes: [Node]
    /// Leaf value by node index (0 for inner nodes and vector leaves).
    let leafValues: [Float]
    /// Trees with one value per output in each leaf (`multi_strategy: multi_output_tree`): per
    /// node the start of its `outputs` values in `vectorLeaves`, -1 elsewhere. Empty when no tree
    /// has vector leaves.
    let vectorLeafStart: [Int32]
    let vectorLeaves: [Float]
    /// Categories sent right by each categorical split, as bit sets.
    let categorySets: [[UInt64]]
    /// Per node: the training hessian sum below it (`sum_hessian`), which TreeSHAP weighs by.
    let covers: [Double]
    /// The same trees in complete-tree layout (XGBoostScoring.swift), unless they are too deep,
    /// categorical or with vector leaves.
    let complete: CompleteTrees?
    /// Trees with vector leaves or categorical splits are walked row by row.
    var needsGeneralWalk: Bool { !vectorLeaves.isEmpty || !categorySets.isEmpty }

    public var featureCount: Int { featureNames.count }
    public var treeCount: Int { roots.count }

    public init(json data: Data) throws(ModelLoadError) {
        let doc: JSONValue
        do { doc = try JSONValue.parse(data) } catch {
            throw ModelLoadError("XGBoost model: not JSON (\(error)); save it with Booster.save_model(\"model.json\")")
        }
        guard let learner = doc["learner"] else { throw ModelLoadError("XGBoost model: missing 'learner'") }
        guard let objective = learner[path: ["objective", "name"]]?.stringValue else {
            throw ModelLoadError("XGBoost model: missing learner.objective.name")
        }
        guard let link = Self.links[objective] else {
            let accepted = Self.links.keys.sorted().joined(separator: ", ")
            throw ModelLoadError("XGBoost model: objective '\(objective)' is not supported (supported: \(accepted))")
        }
        self.objective = objective
        self.link = link
        let params = learner["learner_model_param"]
        func count(_ key: String) -> Int? {
            Int(params?[key]?.stringValue ?? "") ?? params?[key]?.intValue.map(Int.init)
        }
        let numFeature = count("num_feature") ?? -1
        guard numFeature > 0 else { throw ModelLoadError("XGBoost model: learner_model_param.num_feature is missing or not positive") }
        let numClass = count("num_class") ?? 0, numTarget = max(count("num_target") ?? 1, 1)
        if link == .softmax {
            guard numClass >= 2 else { throw ModelLoadError("XGBoost model: num_class=\(numClass) for \(objective); expected 2 or more") }
            guard numTarget == 1 else { throw ModelLoadError("XGBoost model: num_target=\(numTarget) with \(objective) is not supported") }
        } else if numClass > 1 {
            throw ModelLoadError("XGBoost model: num_class=\(numClass) with objective '\(objective)'; only multi:softprob has classes")
        }
        if link == .sigmoid, numTarget > 1 {
            throw ModelLoadError("XGBoost model: num_target=\(numTarget) with \(objective) (multi-label) is not supported")
        }
        let outputs = link == .softmax ? numClass : numTarget
        self.outputs = outputs
        baseMargins = try Self.baseMargins(params?["base_score"], outputs: outputs, link: link, objective: objective)

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
        // Category names recoded by XGBoost 3.1+ (pandas/arrow categories): requests would carry
        // names the server does not map; refuse rather than score codes as the wrong categories.
        if let enc = booster[path: ["model", "cats", "enc"]]?.arrayValue, !enc.isEmpty {
            throw ModelLoadError("XGBoost model: gradient_booster.model.cats holds category names (a DataFrame's categories); "
                + "train on integer category codes (feature_types 'c') to serve it")
        }
        guard let trees = booster[path: ["model", "trees"]]?.arrayValue else {
            throw ModelLoadError("XGBoost model: missing gradient_booster.model.trees")
        }
        let treeInfo = booster[path: ["model", "tree_info"]]?.arrayValue
        if let treeInfo, treeInfo.count != trees.count {
            throw ModelLoadError("XGBoost model: tree_info has \(treeInfo.count) entries for \(trees.count) trees")
        }
        var forest = XGBoostTreeReader(featureCount: numFeature, outputs: outputs)
        for (t, tree) in trees.enumerated() {
            let group = treeInfo.map { Int($0[t].intValue ?? -1) } ?? t % outputs
            guard (0..<outputs).contains(group) else {
                throw ModelLoadError("XGBoost model: tree_info[\(t)] = \(group) is not an output index below \(outputs)")
            }
            try forest.append(tree, index: t, group: group)
        }
        roots = forest.roots
        depths = forest.depths
        groups = forest.groups
        nodes = forest.nodes
        leafValues = forest.leaves
        vectorLeafStart = forest.vectorLeaves.isEmpty ? [] : forest.vectorLeafStart
        vectorLeaves = forest.vectorLeaves
        categorySets = forest.categorySets
        covers = forest.covers
        complete = forest.vectorLeaves.isEmpty && forest.categorySets.isEmpty
            ? CompleteTrees(roots: roots, depths: depths, groups: groups, nodes: nodes, leafValues: leafValues) : nil
    }

    /// `base_score` is a string in every version: "5E-1" (1.x/2.x) or "[5E-1]" (3.x, one per
    /// output); one value serves every output. Turned into a margin as XGBoost's `ProbToMargin`
    /// does, in float32: logit for logistic objectives, log for the log-link ones, itself otherwise.
    static func baseMargins(_ value: JSONValue?, outputs: Int, link: Link, objective: String) throws(ModelLoadError) -> [Float] {
        let scores = try baseScores(value)
        guard scores.count == 1 || scores.count == outputs else {
            throw ModelLoadError("XGBoost model: base_score has \(scores.count) values for \(outputs) outputs")
        }
        let margins = try scores.map { (d: Double) throws(ModelLoadError) -> Float in
            let b = Float(d)
            switch link {
            case .sigmoid:
                guard d > 0, d < 1 else { throw ModelLoadError("XGBoost model: base_score \(d) must lie in (0, 1) for \(objective)") }
                return -logf(1 / b - 1)
            case .exp:
                guard d > 0 else { throw ModelLoadError("XGBoost model: base_score \(d) must be positive for \(objective)") }
                return logf(b)
            case .identity, .softmax:
                guard d.isFinite else { throw ModelLoadError("XGBoost model: base_score \(d) is not finite") }
                return b
            }
        }
        return scores.count == outputs ? margins : [Float](repeating: margins[0], count: outputs)
    }

    static func baseScores(_ value: JSONValue?) throws(ModelLoadError) -> [Double] {
        if let d = value?.doubleValue { return [d] }
        guard var text = value?.stringValue else { return [0.5] }
        text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var out: [Double] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let d = Double(part.trimmingCharacters(in: .whitespaces)) else {
                throw ModelLoadError("XGBoost model: base_score '\(text)' is not a number")
            }
            out.append(d)
        }
        return out
    }

    /// Rows per block: a tree's nodes stay in cache while a block walks it, and the walks of a
    /// block are independent, so the CPU overlaps their loads instead of waiting on one
    /// unpredictable branch at a time.
    static let block = 32
    /// From this many rows a request is scored on two threads.
    public static let parallelRows = 1024

    /// How rows walk the trees: the complete-tree layout when the model has one, or the node walk.
    enum Walk: Sendable { case best, nodes }

    /// Predictions for `rows` rows stored row-major in `values` (NaN = missing), `outputs` per row
    /// (row-major): probabilities, regression values or class probabilities. Each row sums its
    /// trees in tree order, in float32, as XGBoost does.
    public func predictions(_ values: [Double], rows: Int) -> [Double] { predictions(values, rows: rows, walk: .best) }

    /// Margins (before the link), `outputs` per row.
    public func margins(_ values: [Double], rows: Int) -> [Double] { margins(values, rows: rows, walk: .best) }

    func predictions(_ values: [Double], rows: Int, walk: Walk) -> [Double] {
        var out = margins(values, rows: rows, walk: walk)
        applyLink(&out, rows: rows)
        return out
    }

    func margins(_ values: [Double], rows: Int, walk: Walk) -> [Double] {
        let nf = featureCount, k = outputs
        guard rows > 0, values.count >= rows * nf else { return [] }
        // XGBoost reads features as float32: convert once, not at every node.
        let features = [Float](unsafeUninitializedCapacity: rows * nf) { buffer, initialized in
            for i in 0..<rows * nf { buffer[i] = Float(values[i]) }
            initialized = rows * nf
        }
        let missing = features.contains { $0.isNaN }
        let complete = walk == .best ? self.complete : nil
        var out = [Double](repeating: 0, count: rows * k)
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
