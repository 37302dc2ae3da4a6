// Exact TreeSHAP on an imported XGBoost forest, as XGBoost's `pred_contribs=True`: the walk of
// SextantML's TreeSHAP with XGBoost's decisions (float32 compares, categorical splits, NaN to
// `default_left`) and its covers (`sum_hessian`); the bias starts at the base margin.
import SextantML

/// The forest as TreeSHAP walks it; rows are float32, as XGBoost scores them.
struct XGBoostSHAP: TreeSHAPForest {
    let forest: XGBoostForest

    func shapSplit(_ node: Int, _ row: UnsafePointer<Float>) -> (feature: Int, hot: Int, cold: Int)? {
        let n = forest.nodes[node]
        guard n.left != Int32(node) else { return nil }
        let hot = forest.next(n, row)
        return (Int(n.feature), Int(hot), Int(hot == n.left ? n.right : n.left))
    }

    func shapChildren(_ node: Int) -> (left: Int, right: Int)? {
        let n = forest.nodes[node]
        return n.left == Int32(node) ? nil : (Int(n.left), Int(n.right))
    }

    func shapLeafValue(_ node: Int) -> Double { Double(forest.leafValues[node]) }
    func shapCover(_ node: Int) -> Double { forest.covers[node] }
}

extension XGBoostForest {
    /// TreeSHAP needs covers on every node and one value per leaf: models without `sum_hessian`
    /// or with vector leaves (which XGBoost cannot explain either) cannot explain.
    public var canExplain: Bool { vectorLeaves.isEmpty && covers.contains { $0 > 0 } }

    /// Contributions of `rows` rows (row-major, NaN = missing): per row `outputs` blocks of
    /// `features + 1` values, the last of each the bias; nil when `canExplain` is false.
    public func contributions(_ values: [Double], rows: Int) -> [Double]? {
        guard canExplain, values.count >= rows * featureCount else { return nil }
        let nf = featureCount, shap = XGBoostSHAP(forest: self)
        let roots = self.roots.map { Int($0) }, groups = self.groups.map { Int($0) }
        let base = baseMargins.map { Double($0) }
        var out: [Double] = []
        out.reserveCapacity(rows * outputs * (nf + 1))
        var row = [Float](repeating: 0, count: nf)
        for r in 0..<rows {
            for j in 0..<nf { row[j] = Float(values[r * nf + j]) }
            row.withUnsafeBufferPointer { rb in
                guard let p = rb.baseAddress else { return }
                out.append(contentsOf: TreeSHAP.contributions(shap, roots: roots, groups: groups, features: nf, baseMargins: base, row: p))
            }
        }
        return out
    }
}
