// The fast layout for scoring an XGBoost forest: every tree as a complete binary tree in heap
// order (the children of node i are 2i+1 and 2i+2), every leaf at the tree's depth. A walk is then
// `depth` steps of "index = 2·index + 1 + goRight" with no child pointers to load and no branch
// to mispredict, over 8-byte nodes that keep a whole depth-6 tree in 504 bytes. Same arithmetic
// as the node walk (float32 compares, NaN follows `default_left`, leaves summed in tree order in
// float32 onto each tree's output), so both give the same bits; XGBoostTests checks that.
import Foundation

/// An XGBoost forest in complete-tree layout; nil (`init?`) when the trees are too deep for it.
struct CompleteTrees: Sendable {
    struct Node: Sendable {
        var condition: Float
        /// Split feature, with `defaultLeftBit` set when a missing value goes left.
        var featureAndDefault: UInt32
    }
    static let defaultLeftBit: UInt32 = 1 << 31
    /// Deeper trees keep the node walk: a complete tree of depth d has 2^d leaves.
    static let maxDepth = 12
    /// Bound on all trees' complete nodes and leaves (8 MiB of nodes), past which the node walk
    /// is used instead.
    static let maxNodes = 1 << 20

    let nodes: [Node]
    let leaves: [Float]
    /// Per tree: its first node, its first leaf and its depth (a walk ends on index
    /// 2^depth - 1 + leaf).
    let nodeOffsets: [Int]
    let leafOffsets: [Int]
    let depths: [Int]
    /// Per tree: the output it adds to.
    let groups: [Int]
    /// Whether any split sends missing values left; if none does, "go right unless value <
    /// condition" is already right for NaN and requests with missing values take the fast walk too.
    let hasDefaultLeft: Bool

    /// From the node walk's arrays (`XGBoostForest`: roots, depths, nodes whose leaves point at
    /// themselves, leaf values by node).
    init?(roots: [Int32], depths treeDepths: [Int32], groups: [Int32], nodes forestNodes: [XGBoostForest.Node], leafValues: [Float]) {
        guard let deepest = treeDepths.max(), deepest <= Self.maxDepth else { return nil }
        let total = treeDepths.reduce(0) { $0 + (2 << Int($1)) }
        guard total <= Self.maxNodes else { return nil }
        var nodes: [Node] = [], leaves: [Float] = [], nodeOffsets: [Int] = [], leafOffsets: [Int] = [], depths: [Int] = []
        nodes.reserveCapacity(total / 2)
        leaves.reserveCapacity(total / 2)
        var hasDefaultLeft = false
        for (t, root) in roots.enumerated() {
            let depth = Int(treeDepths[t]), inner = (1 << depth) - 1
            let first = nodes.count
            nodeOffsets.append(first)
            leafOffsets.append(leaves.count)
            depths.append(depth)
            nodes.append(contentsOf: repeatElement(Node(condition: 0, featureAndDefault: 0), count: inner))
            leaves.append(contentsOf: repeatElement(0, count: 1 << depth))
            // (source node, complete position, level); a leaf above the last level becomes a
            // split whose two sides hold copies of it, so the direction taken does not matter.
            var stack = [(Int(root), 0, 0)]
            while let (source, position, level) = stack.popLast() {
                let node = forestNodes[source]
                let isLeaf = node.left == Int32(source)
                if level == depth {
                    leaves[leaves.count - (1 << depth) + position - inner] = leafValues[source]
                    continue
                }
                if isLeaf {
                    stack.append((source, 2 * position + 1, level + 1))
                    stack.append((source, 2 * position + 2, level + 1))
                } else {
                    hasDefaultLeft = hasDefaultLeft || node.defaultLeft
                    nodes[first + position] = Node(condition: node.condition,
                                                   featureAndDefault: UInt32(node.feature) | (node.defaultLeft ? Self.defaultLeftBit : 0))
                    stack.append((Int(node.left), 2 * position + 1, level + 1))
                    stack.append((Int(node.right), 2 * position + 2, level + 1))
                }
            }
        }
        self.nodes = nodes
        self.leaves = leaves
        self.nodeOffsets = nodeOffsets
        self.leafOffsets = leafOffsets
        self.depths = depths
        self.groups = groups.map { Int($0) }
        self.hasDefaultLeft = hasDefaultLeft
    }

    /// Scores rows `from..<to` of `x` (row-major, `nf` features, NaN = missing) into
    /// `out[from·k..<to·k]` as margins, `k` outputs per row; `missing` says whether `x` holds a NaN.
    func score(_ x: UnsafePointer<Float>, features nf: Int, outputs k: Int, from: Int, to: Int, baseMargins: [Float],
               missing: Bool, into out: UnsafeMutablePointer<Double>) {
        // Constant `missing` in each call: the compiler drops the NaN test from the common walk.
        if missing && hasDefaultLeft {
            walk(x, features: nf, outputs: k, from: from, to: to, baseMargins: baseMargins, missing: true, into: out)
        } else {
            walk(x, features: nf, outputs: k, from: from, to: to, baseMargins: baseMargins, missing: false, into: out)
        }
    }

    @inline(__always)
    private func walk(_ x: UnsafePointer<Float>, features nf: Int, outputs k: Int, from: Int, to: Int, baseMargins: [Float],
                      missing: Bool, into out: UnsafeMutablePointer<Double>) {
        let block = XGBoostForest.block
        nodes.withUnsafeBufferPointer { nb in
            leaves.withUnsafeBufferPointer { lb in
                guard let nodes = nb.baseAddress, let leaves = lb.baseAddress else { return }
                withUnsafeTemporaryAllocation(of: Int.self, capacity: block) { cur in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: block * k) { margin in
                        guard let c = cur.baseAddress, let m = margin.baseAddress else { return }
                        var start = from
                        while start < to {
                            let count = min(block, to - start)
                            let base = x + start * nf
                            for r in 0..<count { for g in 0..<k { m[r &* k &+ g] = baseMargins[g] } }
                            for t in 0..<depths.count {
                                let tree = nodes + nodeOffsets[t], g = groups[t]
                                for r in 0..<count { c[r] = 0 }
                                for _ in 0..<depths[t] {
                                    for r in 0..<count {
                                        let node = tree[c[r]]
                                        let v = base[r &* nf &+ Int(node.featureAndDefault & ~Self.defaultLeftBit)]
                                        // NaN compares false: it goes right unless the node sends it left.
                                        var right = v < node.condition ? 0 : 1
                                        if missing { right &-= (v.isNaN ? 1 : 0) & Int(node.featureAndDefault >> 31) }
                                        c[r] = 2 &* c[r] &+ 1 &+ right
                                    }
                                }
                                let leaf = leaves + leafOffsets[t], inner = (1 << depths[t]) - 1
                                for r in 0..<count { m[r &* k &+ g] += leaf[c[r] &- inner] }
                            }
                            for i in 0..<count * k { out[start * k + i] = Double(m[i]) }
                            start += count
                        }
                    }
                }
            }
        }
    }
}
