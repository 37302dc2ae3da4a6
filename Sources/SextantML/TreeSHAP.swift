// Exact TreeSHAP (Lundberg, Erion, Lee 2018, "Consistent Individualized Feature Attribution for
// Tree Ensembles", Algorithm 2), the algorithm behind XGBoost's `pred_contribs=True`: per row, one
// contribution per feature plus a bias, in margin space, that add up to the row's margin. Feature
// absence follows the training cover (hessian sum) of each branch, as XGBoost does.
import Foundation

/// A tree ensemble TreeSHAP can walk (a Sextant `Predictor`, or an imported model in
/// SextantServing): nodes are numbered across all trees, the row is whatever the model decides on.
public protocol TreeSHAPForest {
    associatedtype Row
    /// Nil for a leaf; else the split feature and the child `row` goes to (hot) and the other (cold).
    func shapSplit(_ node: Int, _ row: Row) -> (feature: Int, hot: Int, cold: Int)?
    /// The children of an inner node, nil for a leaf.
    func shapChildren(_ node: Int) -> (left: Int, right: Int)?
    func shapLeafValue(_ node: Int) -> Double
    /// Training cover (hessian sum) of the node: how often absence of a feature takes each branch.
    func shapCover(_ node: Int) -> Double
}

public enum TreeSHAP {
    /// Contributions of one row: `outputs` blocks of `features + 1` values, the last of each
    /// block the bias (`baseMargins` plus every tree's cover-weighted mean leaf value). Tree `t`
    /// (rooted at `roots[t]`) adds to block `groups[t]`. Each block sums to that output's margin.
    public static func contributions<F: TreeSHAPForest>(_ forest: F, roots: [Int], groups: [Int], features nf: Int,
                                                       baseMargins: [Double], row: F.Row) -> [Double] {
        let k = baseMargins.count
        var phi = [Double](repeating: 0, count: k * (nf + 1))
        for c in 0..<k { phi[c * (nf + 1) + nf] = baseMargins[c] }
        var path = [PathElement](repeating: PathElement(), count: 18 * 19 / 2)  // grows for trees deeper than 16
        for (t, root) in roots.enumerated() {
            let block = groups[t] * (nf + 1)
            phi[block + nf] += meanValue(forest, root)
            var walker = ShapWalker(forest: forest, row: row, phi: phi, offset: block)
            walker.recurse(node: root, path: &path, start: 0, depth: 0, zero: 1, one: 1, feature: -1)
            phi = walker.phi
        }
        return phi
    }

    /// Cover-weighted mean leaf value below `node` (the tree's expected value at the root).
    static func meanValue<F: TreeSHAPForest>(_ forest: F, _ node: Int) -> Double {
        guard let (l, r) = forest.shapChildren(node) else { return forest.shapLeafValue(node) }
        let cover = forest.shapCover(node)
        guard cover > 0 else { return 0 }
        return (forest.shapCover(l) * meanValue(forest, l) + forest.shapCover(r) * meanValue(forest, r)) / cover
    }
}

/// A Predictor with its covers, as TreeSHAP walks it.
struct PredictorSHAP: TreeSHAPForest {
    let predictor: Predictor
    let covers: [Double]

    func shapSplit(_ node: Int, _ row: UnsafePointer<Double>) -> (feature: Int, hot: Int, cold: Int)? {
        let n = predictor.nodes[node]
        guard n.feature >= 0 else { return nil }
        let left = predictor.goesLeft(n, row)
        return (Int(n.feature), Int(left ? n.left : n.right), Int(left ? n.right : n.left))
    }

    func shapChildren(_ node: Int) -> (left: Int, right: Int)? {
        let n = predictor.nodes[node]
        return n.feature < 0 ? nil : (Int(n.left), Int(n.right))
    }

    func shapLeafValue(_ node: Int) -> Double { predictor.nodes[node].threshold }
    func shapCover(_ node: Int) -> Double { covers[node] }
}

extension Predictor {
    /// Whether the model can be explained: trees with cover (every artifact this trainer writes).
    public var canExplain: Bool { covers != nil && linear == nil }

    /// Contributions of one row (NaN = missing): `outputs` blocks of `features + 1` values, the
    /// last of each block the bias (start margin plus every tree's cover-weighted mean leaf
    /// value). Each block sums to that output's margin. Nil when `canExplain` is false.
    public func contributions(_ x: [Double]) -> [Double]? {
        guard let covers, linear == nil, x.count == featureNames.count else { return nil }
        let k = outputs
        return x.withUnsafeBufferPointer { xb -> [Double]? in
            guard let xp = xb.baseAddress else { return nil }
            return TreeSHAP.contributions(PredictorSHAP(predictor: self, covers: covers), roots: roots.map { Int($0) },
                                          groups: roots.indices.map { $0 % k }, features: featureNames.count,
                                          baseMargins: baseMargins, row: xp)
        }
    }

    /// The branch row `x` takes at inner node `n` (the scoring rule of `treeValue`).
    @inline(__always)
    func goesLeft(_ n: Node, _ x: UnsafePointer<Double>) -> Bool {
        let v = x[Int(n.feature)]
        if v.isNaN { return n.defaultLeft }
        if n.categorySet >= 0 {
            let mask = categoryMasks[Int(n.categorySet)]
            let c = Int(v)
            return (c >= 0 && c < mask.count) ? mask[c] : n.defaultLeft
        }
        return v < n.threshold
    }
}

struct PathElement {
    var feature = -1
    var zeroFraction = 0.0
    var oneFraction = 0.0
    var weight = 0.0
}

/// One tree's recursion; `path` holds every level's unique path back to back (level d starts
/// where level d-1's d elements end), so no allocation happens per node.
struct ShapWalker<F: TreeSHAPForest> {
    let forest: F
    let row: F.Row
    var phi: [Double]
    let offset: Int

    static func extend(_ p: inout [PathElement], _ s: Int, _ depth: Int, _ zero: Double, _ one: Double, _ feature: Int) {
        p[s + depth] = PathElement(feature: feature, zeroFraction: zero, oneFraction: one, weight: depth == 0 ? 1 : 0)
        var i = depth - 1
        while i >= 0 {
            p[s + i + 1].weight += one * p[s + i].weight * Double(i + 1) / Double(depth + 1)
            p[s + i].weight = zero * p[s + i].weight * Double(depth - i) / Double(depth + 1)
            i -= 1
        }
    }

    static func unwind(_ p: inout [PathElement], _ s: Int, _ depth: Int, _ index: Int) {
        let one = p[s + index].oneFraction, zero = p[s + index].zeroFraction
        var next = p[s + depth].weight
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = p[s + i].weight
                p[s + i].weight = next * Double(depth + 1) / (Double(i + 1) * one)
                next = tmp - p[s + i].weight * zero * Double(depth - i) / Double(depth + 1)
            } else {
                p[s + i].weight = p[s + i].weight * Double(depth + 1) / (zero * Double(depth - i))
            }
            i -= 1
        }
        for j in index..<depth {
            p[s + j].feature = p[s + j + 1].feature
            p[s + j].zeroFraction = p[s + j + 1].zeroFraction
            p[s + j].oneFraction = p[s + j + 1].oneFraction
        }
    }

    static func unwoundSum(_ p: [PathElement], _ s: Int, _ depth: Int, _ index: Int) -> Double {
        let one = p[s + index].oneFraction, zero = p[s + index].zeroFraction
        var next = p[s + depth].weight, total = 0.0
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = next * Double(depth + 1) / (Double(i + 1) * one)
                total += tmp
                next = p[s + i].weight - tmp * zero * (Double(depth - i) / Double(depth + 1))
            } else if zero != 0 {
                total += (p[s + i].weight / zero) / (Double(depth - i) / Double(depth + 1))
            }
            i -= 1
        }
        return total
    }

    /// `start`: where the parent's path (of `depth` elements) begins; this level's copy follows it.
    mutating func recurse(node: Int, path: inout [PathElement], start: Int, depth: Int, zero: Double, one: Double, feature: Int) {
        let s = start + depth  // this level's path: the parent's `depth` elements copied, plus one
        if path.count < s + depth + 1 { path.append(contentsOf: repeatElement(PathElement(), count: s + depth + 1 - path.count)) }
        if depth > 0 { for i in 0..<depth { path[s + i] = path[start + i] } }
        Self.extend(&path, s, depth, zero, one, feature)
        guard let (split, hot, cold) = forest.shapSplit(node, row) else {
            guard depth > 0 else { return }
            let value = forest.shapLeafValue(node)
            for i in 1...depth {
                let w = Self.unwoundSum(path, s, depth, i)
                let e = path[s + i]
                phi[offset + e.feature] += w * (e.oneFraction - e.zeroFraction) * value
            }
            return
        }
        let cover = forest.shapCover(node)
        let hotZero = cover > 0 ? forest.shapCover(hot) / cover : 0, coldZero = cover > 0 ? forest.shapCover(cold) / cover : 0
        var incomingZero = 1.0, incomingOne = 1.0
        var d = depth
        // A feature already on the path: undo its earlier split and fold its fractions in.
        var index = 0
        while index <= d, path[s + index].feature != split { index += 1 }
        if index <= d {
            incomingZero = path[s + index].zeroFraction
            incomingOne = path[s + index].oneFraction
            Self.unwind(&path, s, d, index)
            d -= 1
        }
        recurse(node: hot, path: &path, start: s, depth: d + 1, zero: hotZero * incomingZero, one: incomingOne, feature: split)
        recurse(node: cold, path: &path, start: s, depth: d + 1, zero: coldZero * incomingZero, one: 0, feature: split)
    }
}
