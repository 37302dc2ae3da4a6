// The node walks of an XGBoost forest (the complete-tree walk is in XGBoostScoring.swift) and the
// objective's link, all in XGBoost's float32 arithmetic.
import Foundation

extension XGBoostForest {
    /// Scores rows `from..<to` into `out[from·outputs..<to·outputs]` as margins, in the
    /// complete-tree layout when given.
    func score(_ x: UnsafePointer<Float>, from: Int, to: Int, into out: UnsafeMutablePointer<Double>,
               complete: CompleteTrees?, missing: Bool) {
        if needsGeneralWalk {
            generalWalk(x, from: from, to: to, into: out)
        } else if let complete {
            complete.score(x, features: featureCount, outputs: outputs, from: from, to: to, baseMargins: baseMargins,
                           missing: missing, into: out)
        } else {
            nodeWalk(x, from: from, to: to, into: out)
        }
    }

    /// Blocks of rows through one tree at a time; leaves point at themselves, so `depth` steps end
    /// every walk on its leaf. Numeric splits and scalar leaves only.
    func nodeWalk(_ x: UnsafePointer<Float>, from: Int, to: Int, into out: UnsafeMutablePointer<Double>) {
        let nf = featureCount, k = outputs, block = Self.block
        nodes.withUnsafeBufferPointer { nb in
            leafValues.withUnsafeBufferPointer { lb in
                guard let nodes = nb.baseAddress, let leaves = lb.baseAddress else { return }
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: block) { cur in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: block * k) { margin in
                        guard let c = cur.baseAddress, let m = margin.baseAddress else { return }
                        var start = from
                        while start < to {
                            let count = min(block, to - start)
                            let base = x + start * nf
                            for r in 0..<count { for g in 0..<k { m[r * k + g] = baseMargins[g] } }
                            for (t, root) in roots.enumerated() {
                                let g = Int(groups[t])
                                for r in 0..<count { c[r] = root }
                                for _ in 0..<depths[t] {
                                    for r in 0..<count {
                                        let node = nodes[Int(c[r])]
                                        let v = base[r * nf + Int(node.feature)]
                                        let goLeft = v.isNaN ? node.defaultLeft : v < node.condition
                                        c[r] = goLeft ? node.left : node.right
                                    }
                                }
                                for r in 0..<count { m[r * k + g] += leaves[Int(c[r])] }
                            }
                            for i in 0..<count * k { out[start * k + i] = Double(m[i]) }
                            start += count
                        }
                    }
                }
            }
        }
    }

    /// The child row `x` goes to from inner node `node` (XGBoost's `GetNextNode`): missing values
    /// follow `default_left`; a categorical split sends its categories right and everything else
    /// (other, negative or too large categories) left; a numeric split goes left when value < condition.
    @inline(__always)
    func next(_ node: Node, _ x: UnsafePointer<Float>) -> Int32 {
        let v = x[Int(node.feature)]
        if v.isNaN { return node.defaultLeft ? node.left : node.right }
        if node.categories < 0 { return v < node.condition ? node.left : node.right }
        guard v >= 0, v < Float(xgboostCategoryLimit) else { return node.left }
        let c = Int(v), bits = categorySets[Int(node.categories)]
        return c / 64 < bits.count && bits[c / 64] & (1 << UInt64(c % 64)) != 0 ? node.right : node.left
    }

    /// Row by row, for categorical splits and vector leaves.
    func generalWalk(_ x: UnsafePointer<Float>, from: Int, to: Int, into out: UnsafeMutablePointer<Double>) {
        let nf = featureCount, k = outputs
        var m = [Float](repeating: 0, count: k)
        for r in from..<to {
            let row = x + r * nf
            for g in 0..<k { m[g] = baseMargins[g] }
            for (t, root) in roots.enumerated() {
                var i = root
                while true {
                    let node = nodes[Int(i)]
                    if node.left == i { break }
                    i = next(node, row)
                }
                if vectorLeaves.isEmpty || vectorLeafStart[Int(i)] < 0 {
                    m[Int(groups[t])] += leafValues[Int(i)]
                } else {
                    let s = Int(vectorLeafStart[Int(i)])
                    for g in 0..<k { m[g] += vectorLeaves[s + g] }
                }
            }
            for g in 0..<k { out[r * k + g] = Double(m[g]) }
        }
    }

    /// Margins to predictions in place, in float32 as XGBoost's `PredTransform`.
    func applyLink(_ values: inout [Double], rows: Int) {
        switch link {
        case .identity:
            return
        case .sigmoid:
            for i in values.indices { values[i] = Double(Self.sigmoid(Float(values[i]))) }
        case .exp:
            for i in values.indices { values[i] = Double(expf(Float(values[i]))) }
        case .softmax:
            let k = outputs
            var row = [Float](repeating: 0, count: k)
            for r in 0..<rows {
                for g in 0..<k { row[g] = Float(values[r * k + g]) }
                Self.softmax(&row)
                for g in 0..<k { values[r * k + g] = Double(row[g]) }
            }
        }
    }

    /// XGBoost's `common::Sigmoid`: the exponent clamped at 88.7 so that it stays finite.
    static func sigmoid(_ x: Float) -> Float { 1 / (expf(min(-x, 88.7)) + 1) }

    /// XGBoost's `common::Softmax`: shifted by the largest margin, exponentials summed in double.
    static func softmax(_ row: inout [Float]) {
        guard var top = row.first else { return }
        for v in row.dropFirst() { top = max(v, top) }
        var sum = 0.0
        for i in row.indices {
            row[i] = expf(row[i] - top)
            sum += Double(row[i])
        }
        for i in row.indices { row[i] /= Float(sum) }
    }
}
