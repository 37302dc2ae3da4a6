// Exact TreeSHAP on an imported LightGBM text model, as LightGBM's `predict(pred_contrib=True)`:
// the walk of SextantML's TreeSHAP with LightGBM's decisions (`LightGBMModel.goesLeft`: doubles,
// missing types, categorical bit sets) and its covers, the training row counts of each node
// (`internal_count` / `leaf_count`, LightGBM's `Tree::data_count`; not the hessian weights).
// The bias of each class block is the sum of the trees' count-weighted mean leaf values
// (LightGBM's `Tree::ExpectedValue`); LightGBM has no separate base score to add.
import SextantML

/// Why a LightGBM model cannot explain, said in the 400 of an explain request.
struct LightGBMExplainRefusal: Error, Sendable {
    var reason: String
}

/// The nodes of every tree numbered in one range (tree after tree: its inner nodes, then its
/// leaves), with their covers, as `TreeSHAP` walks them.
struct LightGBMSHAPTable: Sendable {
    struct Node: Sendable {
        var tree: Int32
        /// >= 0: the tree's inner node; < 0: its leaf ~local.
        var local: Int32
        /// Numbers of the children in this table (inner nodes only).
        var left: Int32
        var right: Int32
        var cover: Double
    }

    var nodes: [Node]
    var roots: [Int]

    /// The table, or why TreeSHAP would not be exact: counts missing (a file written without
    /// `internal_count`/`leaf_count`), an inner node with no rows, or counts that do not add up
    /// (the bias is the count-weighted mean, which needs each node's count to be its children's sum).
    static func build(_ trees: [LightGBMModel.Tree]) -> Result<LightGBMSHAPTable, LightGBMExplainRefusal> {
        var nodes: [Node] = [], roots: [Int] = []
        for (t, tree) in trees.enumerated() {
            let start = nodes.count, inner = tree.nodes.count
            roots.append(start)
            guard inner > 0 else {
                nodes.append(Node(tree: Int32(t), local: ~0, left: -1, right: -1, cover: 0))
                continue
            }
            guard tree.counts.count == inner + tree.leaves.count else {
                return .failure(LightGBMExplainRefusal(reason: "tree \(t) has no internal_count/leaf_count (the training rows per node "
                    + "that TreeSHAP weighs by); save the model with LightGBM's Booster.save_model"))
            }
            func number(_ child: Int32) -> Int { child >= 0 ? start + Int(child) : start + inner + Int(~child) }
            for (i, n) in tree.nodes.enumerated() {
                let cover = tree.counts[i], sum = tree.counts[number(n.left) - start] + tree.counts[number(n.right) - start]
                guard cover > 0, cover == sum else {
                    return .failure(LightGBMExplainRefusal(reason: "tree \(t) node \(i): internal_count \(cover) is "
                        + (cover > 0 ? "not the sum of its children's counts (\(sum))" : "not positive")))
                }
                nodes.append(Node(tree: Int32(t), local: Int32(i), left: Int32(number(n.left)), right: Int32(number(n.right)), cover: cover))
            }
            for j in 0..<tree.leaves.count {
                nodes.append(Node(tree: Int32(t), local: ~Int32(j), left: -1, right: -1, cover: tree.counts[inner + j]))
            }
        }
        return .success(LightGBMSHAPTable(nodes: nodes, roots: roots))
    }
}

/// The model as TreeSHAP walks it; rows are doubles, as LightGBM scores them.
struct LightGBMSHAP: TreeSHAPForest {
    let model: LightGBMModel
    let table: LightGBMSHAPTable

    func shapSplit(_ node: Int, _ row: UnsafePointer<Double>) -> (feature: Int, hot: Int, cold: Int)? {
        let e = table.nodes[node]
        guard e.local >= 0 else { return nil }
        let n = model.trees[Int(e.tree)].nodes[Int(e.local)]
        let left = model.goesLeft(n, row[Int(n.feature)])
        return (Int(n.feature), Int(left ? e.left : e.right), Int(left ? e.right : e.left))
    }

    func shapChildren(_ node: Int) -> (left: Int, right: Int)? {
        let e = table.nodes[node]
        return e.local >= 0 ? (Int(e.left), Int(e.right)) : nil
    }

    func shapLeafValue(_ node: Int) -> Double {
        let e = table.nodes[node]
        return e.local < 0 ? model.trees[Int(e.tree)].leaves[Int(~e.local)] : 0
    }

    func shapCover(_ node: Int) -> Double { table.nodes[node].cover }
}

extension LightGBMModel {
    /// Why contributions are refused; nil when the model can explain.
    public var cannotExplainReason: String? {
        if case .failure(let refusal) = explanation { return refusal.reason }
        return nil
    }

    /// Contributions of `rows` rows (row-major, NaN = missing), LightGBM's `pred_contrib=True`
    /// layout: per row `outputs` blocks of `features + 1` values, the last of each the bias; each
    /// block sums to that output's raw score. Nil when the model cannot explain.
    public func contributions(_ values: [Double], rows: Int) -> [Double]? {
        guard case .success(let table) = explanation, values.count >= rows * featureCount else { return nil }
        let nf = featureCount, k = outputs, shap = LightGBMSHAP(model: self, table: table)
        let groups = trees.indices.map { $0 % k }, base = [Double](repeating: 0, count: k)
        var out: [Double] = []
        out.reserveCapacity(rows * k * (nf + 1))
        values.withUnsafeBufferPointer { vb in
            guard let x = vb.baseAddress else { return }
            for r in 0..<rows {
                out.append(contentsOf: TreeSHAP.contributions(shap, roots: table.roots, groups: groups, features: nf,
                                                              baseMargins: base, row: x + r * nf))
            }
        }
        return out
    }
}
