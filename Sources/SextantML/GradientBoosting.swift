// Histogram-based gradient-boosted decision trees for binary classification (logistic loss),
// grown depthwise like XGBoost's `tree_method="hist"`.
//
// Per tree: gradients/hessians (Float) for every training row; the row indices of each node are a
// contiguous range of one index array, partitioned in place (stable) at every split; the node
// histograms (Double sums of gradient and hessian per feature and bin) are built for the smaller
// child only and the sibling is derived as parent - smaller. Threads own whole features while
// building histograms, so every sum is accumulated in the same order for any thread count and
// the model is bit-identical with 1 or N threads.
import Foundation

public struct GBDTParameters: Sendable, Codable, Equatable {
    public var nEstimators = 100
    public var maxDepth = 6
    public var learningRate = 0.3
    public var subsample = 1.0
    public var colsampleBytree = 1.0
    public var minChildWeight = 1.0
    public var gamma = 0.0
    public var regAlpha = 0.0
    public var regLambda = 1.0
    public var maxBin = 255
    public var earlyStoppingRounds: Int?
    public var seed: UInt64 = 0
    public var threads = 1

    public init() {}

    public init(_ h: TrainingConfig.Hyperparameters?, threads: Int) {
        if let h {
            if let v = h.nEstimators { nEstimators = v }
            if let v = h.maxDepth { maxDepth = v }
            if let v = h.learningRate { learningRate = v }
            if let v = h.subsample { subsample = v }
            if let v = h.colsampleBytree { colsampleBytree = v }
            if let v = h.minChildWeight { minChildWeight = v }
            if let v = h.gamma { gamma = v }
            if let v = h.regAlpha { regAlpha = v }
            if let v = h.regLambda { regLambda = v }
            if let v = h.maxBin { maxBin = v }
            earlyStoppingRounds = h.earlyStoppingRounds
            if let v = h.seed { seed = v }
        }
        self.threads = threads
    }
}

/// Progress of one boosting round (for stderr and tests).
public struct RoundProgress: Sendable {
    public var round: Int
    public var validationLogLoss: Double?
    public var elapsedSeconds: Double
}

/// A tree while training: nodes address bins; converted to raw thresholds for the artifact.
struct BinnedTree: Sendable {
    struct Node: Sendable {
        var feature: Int32 = -1
        var bin: UInt8 = 0            // numeric: left when 1 <= bin <= this
        var defaultLeft = true        // where missing values (bin 0) go
        var isCategorical = false
        var categoryMask = CategoryMask()  // categorical: left when the bin's bit is set
        var left: Int32 = -1
        var right: Int32 = -1
        var value = 0.0               // leaf value (learning rate applied)
        var gain = 0.0
        var hessian = 0.0
    }
    var nodes: [Node] = []

    @inline(__always)
    func leafValue(rowBins: UnsafePointer<UInt8>) -> Double {
        var n = 0
        while true {
            let node = nodes[n]
            if node.feature < 0 { return node.value }
            let b = rowBins[Int(node.feature)]
            let goLeft: Bool
            if b == 0 { goLeft = node.defaultLeft } else if node.isCategorical { goLeft = node.categoryMask.contains(b) } else { goLeft = b <= node.bin }
            n = Int(goLeft ? node.left : node.right)
        }
    }
}

struct CategoryMask: Sendable, Equatable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    @inline(__always) func contains(_ bin: UInt8) -> Bool {
        let w: UInt64
        switch bin >> 6 { case 0: w = words.0; case 1: w = words.1; case 2: w = words.2; default: w = words.3 }
        return (w >> UInt64(bin & 63)) & 1 == 1
    }
    mutating func insert(_ bin: UInt8) {
        let bit = UInt64(1) << UInt64(bin & 63)
        switch bin >> 6 { case 0: words.0 |= bit; case 1: words.1 |= bit; case 2: words.2 |= bit; default: words.3 |= bit }
    }
    static func == (a: CategoryMask, b: CategoryMask) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }
}

struct SplitCandidate: Sendable {
    var gain = 0.0
    var feature = -1
    var bin: UInt8 = 0
    var defaultLeft = true
    var isCategorical = false
    var mask = CategoryMask()
    var leftG = 0.0, leftH = 0.0
}

/// Deterministic pseudo-random numbers (SplitMix64): same seed, same sample, on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
    /// Standard normal (Box-Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUnit(), 1e-300), u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

struct GBDTResult: Sendable {
    var trees: [BinnedTree]
    var baseScore: Double
    var bestIteration: Int
    var validationLogLoss: [Double]
}

/// Bins per feature reserved in a histogram (bin 0 = missing, up to 255 real bins).
let histogramStride = 256

enum GradientBoosting {
    static func train(_ x: BinnedMatrix, labels: [Double], cuts: BinCuts, params: GBDTParameters,
                      validation: (x: BinnedMatrix, labels: [Double])? = nil,
                      progress: ((RoundProgress) -> Void)? = nil) -> GBDTResult
    {
        let n = x.rows, f = x.features, threads = max(1, params.threads)
        let started = Date()
        // Base score: the log-odds of the training positive rate (an intercept fit).
        let positives = labels.reduce(0, +)
        let rate = min(max(positives / Double(max(n, 1)), 1e-6), 1 - 1e-6)
        let baseScore = log(rate / (1 - rate))

        var margin = [Double](repeating: baseScore, count: n)
        var gh = [Float](repeating: 0, count: 2 * n)
        var validMargin = [Double](repeating: baseScore, count: validation?.x.rows ?? 0)
        var trees: [BinnedTree] = []
        var history: [Double] = []
        var best = (iteration: -1, loss: Double.infinity)
        var rng = SplitMix64(seed: params.seed)
        let rowBlocks = evenRanges(n, parts: 64)  // fixed blocks: elementwise work, any thread count

        let builder = TreeBuilder(x: x, cuts: cuts, params: params, threads: threads)
        for round in 0..<params.nEstimators {
            // Gradients and hessians of the logistic loss at the current margins.
            margin.withUnsafeBufferPointer { mp in
                labels.withUnsafeBufferPointer { lp in
                    gh.withUnsafeMutableBufferPointer { gp in
                        guard let mBase = mp.baseAddress, let lBase = lp.baseAddress, let gBase = gp.baseAddress else { return }
                        let m = SharedPointer(mBase), l = SharedPointer(lBase), g = SharedMutablePointer(gBase)
                        parallelFor(rowBlocks.count, threads: threads) { b in
                            for i in rowBlocks[b] {
                                let p = 1 / (1 + exp(-m[i]))
                                g[2 * i] = Float(p - l[i])
                                g[2 * i + 1] = Float(max(p * (1 - p), 1e-16))
                            }
                        }
                    }
                }
            }
            // Row and feature sampling for this tree.
            var sampled: [Int32]
            if params.subsample < 1 {
                sampled = []
                sampled.reserveCapacity(Int(Double(n) * params.subsample) + 16)
                for i in 0..<n where rng.nextUnit() < params.subsample { sampled.append(Int32(i)) }
                if sampled.isEmpty, n > 0 { sampled.append(Int32(Int(rng.next() % UInt64(n)))) }
            } else {
                sampled = (0..<n).map { Int32($0) }
            }
            var featureList = Array(0..<f)
            if params.colsampleBytree < 1 {
                let k = max(1, Int((params.colsampleBytree * Double(f)).rounded()))
                for i in 0..<k {
                    let j = i + Int(rng.next() % UInt64(f - i))
                    featureList.swapAt(i, j)
                }
                featureList = Array(featureList[0..<k]).sorted()
            }
            let (tree, leafRanges, order) = builder.build(gh: gh, rows: sampled, features: featureList)
            trees.append(tree)

            // Margins: rows in the sample get their leaf from the partition; others walk the tree.
            margin.withUnsafeMutableBufferPointer { mp in
                guard let mBase = mp.baseAddress else { return }
                let m = SharedMutablePointer(mBase)
                order.withUnsafeBufferPointer { op in
                    guard let oBase = op.baseAddress else { return }
                    let o = SharedPointer(oBase)
                    let ranges = leafRanges
                    parallelFor(ranges.count, threads: threads) { k in
                        let (range, value) = ranges[k]
                        for i in range { m[Int(o[i])] += value }
                    }
                }
            }
            if sampled.count < n {
                var inSample = [Bool](repeating: false, count: n)
                for r in sampled { inSample[Int(r)] = true }
                x.bins.withUnsafeBufferPointer { bp in
                    guard let bBase = bp.baseAddress else { return }
                    for i in 0..<n where !inSample[i] { margin[i] += tree.leafValue(rowBins: bBase + i * f) }
                }
            }
            var validLoss: Double?
            if let validation {
                let vf = validation.x.features, vBlocks = evenRanges(validation.x.rows, parts: 16)
                validMargin.withUnsafeMutableBufferPointer { mp in
                    validation.x.bins.withUnsafeBufferPointer { bp in
                        guard let mBase = mp.baseAddress, let bBase = bp.baseAddress else { return }
                        let m = SharedMutablePointer(mBase), bins = SharedPointer(bBase)
                        parallelFor(vBlocks.count, threads: threads) { b in
                            for i in vBlocks[b] { m[i] += tree.leafValue(rowBins: bins.base + i * vf) }
                        }
                    }
                }
                let loss = Metrics.logLoss(labels: validation.labels, probabilities: validMargin.map(sigmoid))
                validLoss = loss
                history.append(loss)
                if loss < best.loss - 1e-12 { best = (round, loss) }
            }
            progress?(RoundProgress(round: round + 1, validationLogLoss: validLoss,
                                    elapsedSeconds: Date().timeIntervalSince(started)))
            if let esr = params.earlyStoppingRounds, validation != nil, round - best.iteration >= esr { break }
        }
        var bestIteration = trees.count - 1
        if validation != nil, params.earlyStoppingRounds != nil, best.iteration >= 0 {
            bestIteration = best.iteration
            trees = Array(trees.prefix(best.iteration + 1))
        }
        return GBDTResult(trees: trees, baseScore: baseScore, bestIteration: bestIteration, validationLogLoss: history)
    }
}

@inline(__always) func sigmoid(_ m: Double) -> Double { 1 / (1 + exp(-m)) }

/// Grows one tree depthwise. Holds reusable buffers across rounds.
final class TreeBuilder: @unchecked Sendable {
    // @unchecked: only `build` mutates the buffers, and callers never run two builds at once.
    let x: BinnedMatrix
    let cuts: BinCuts
    let params: GBDTParameters
    let threads: Int
    let histSize: Int
    private var rowIndex: [Int32] = []
    private var scratch: [Int32] = []

    init(x: BinnedMatrix, cuts: BinCuts, params: GBDTParameters, threads: Int) {
        self.x = x; self.cuts = cuts; self.params = params; self.threads = threads
        histSize = x.features * histogramStride * 2
    }

    struct Pending {
        var node: Int
        var begin: Int
        var end: Int
        var g: Double
        var h: Double
        var hist: UnsafeMutablePointer<Double>
    }

    @inline(__always)
    func score(_ g: Double, _ h: Double) -> Double {
        let a = params.regAlpha
        let t = g > a ? g - a : (g < -a ? g + a : 0)
        return t * t / (h + params.regLambda)
    }

    @inline(__always)
    func weight(_ g: Double, _ h: Double) -> Double {
        let a = params.regAlpha
        let t = g > a ? g - a : (g < -a ? g + a : 0)
        return -t / (h + params.regLambda)
    }

    /// Builds a tree on `rows`; returns it, the leaf ranges of the partitioned row order (with
    /// their leaf values) and that order.
    func build(gh: [Float], rows: [Int32], features: [Int]) -> (BinnedTree, [(Range<Int>, Double)], [Int32]) {
        rowIndex = rows
        if scratch.count < rows.count { scratch = [Int32](repeating: 0, count: rows.count) }
        var tree = BinnedTree()
        var allocated: [UnsafeMutablePointer<Double>] = []
        defer { for p in allocated { p.deallocate() } }
        func newHist() -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: histSize)
            p.initialize(repeating: 0, count: histSize)
            allocated.append(p)
            return p
        }
        var leafRanges: [(Range<Int>, Double)] = []
        let f = x.features

        gh.withUnsafeBufferPointer { ghp in
        x.bins.withUnsafeBufferPointer { bp in
        guard let ghBase = ghp.baseAddress, let binBase = bp.baseAddress else { return }
        let ghPtr = SharedPointer(ghBase), binPtr = SharedPointer(binBase)

        // Root.
        var g = 0.0, h = 0.0
        for r in rows { g += Double(ghBase[2 * Int(r)]); h += Double(ghBase[2 * Int(r) + 1]) }
        tree.nodes.append(BinnedTree.Node(hessian: h))
        let rootHist = newHist()
        buildHistograms([(0, rows.count, rootHist)], gh: ghPtr, bins: binPtr, features: features)
        var level = [Pending(node: 0, begin: 0, end: rows.count, g: g, h: h, hist: rootHist)]

        for depth in 0...params.maxDepth {
            // Best split of every node on this level (nodes are independent).
            var splits = [SplitCandidate?](repeating: nil, count: level.count)
            if depth < params.maxDepth {
                let slots = ResultSlots<SplitCandidate>(count: level.count)
                let levelCopy = level.map { ($0.g, $0.h, SharedMutablePointer($0.hist)) }
                parallelFor(levelCopy.count, threads: threads) { k in
                    let (g, h, hist) = levelCopy[k]
                    if let s = self.bestSplit(hist: hist.base, g: g, h: h, features: features) { slots.set(k, s) }
                }
                splits = slots.all
            }
            var next: [Pending] = []
            var toPartition: [(Pending, SplitCandidate, Int)] = []  // pending, split, left child index
            for (k, p) in level.enumerated() {
                guard let s = splits[k] else {
                    tree.nodes[p.node].value = weight(p.g, p.h) * params.learningRate
                    leafRanges.append((p.begin..<p.end, tree.nodes[p.node].value))
                    continue
                }
                let left = tree.nodes.count
                tree.nodes.append(BinnedTree.Node(hessian: s.leftH))
                tree.nodes.append(BinnedTree.Node(hessian: p.h - s.leftH))
                tree.nodes[p.node].feature = Int32(s.feature)
                tree.nodes[p.node].bin = s.bin
                tree.nodes[p.node].defaultLeft = s.defaultLeft
                tree.nodes[p.node].isCategorical = s.isCategorical
                tree.nodes[p.node].categoryMask = s.mask
                tree.nodes[p.node].left = Int32(left)
                tree.nodes[p.node].right = Int32(left + 1)
                tree.nodes[p.node].gain = s.gain
                toPartition.append((p, s, left))
            }
            if toPartition.isEmpty { break }

            // Stable in-place partition of each split node's row range (ranges are disjoint).
            let mids = ResultSlots<Int>(count: toPartition.count)
            rowIndex.withUnsafeMutableBufferPointer { rp in
            scratch.withUnsafeMutableBufferPointer { sp in
                guard let rBase = rp.baseAddress, let sBase = sp.baseAddress else { return }
                let ri = SharedMutablePointer(rBase), tmp = SharedMutablePointer(sBase)
                let work = toPartition.map { ($0.0.begin, $0.0.end, $0.1) }
                parallelFor(work.count, threads: threads) { k in
                    let (begin, end, s) = work[k]
                    let feature = s.feature
                    var l = begin, r = begin
                    for i in begin..<end {
                        let row = ri[i]
                        let b = binPtr.base[Int(row) * f + feature]
                        let goLeft: Bool
                        if b == 0 { goLeft = s.defaultLeft } else if s.isCategorical { goLeft = s.mask.contains(b) } else { goLeft = b <= s.bin }
                        if goLeft { ri[l] = row; l += 1 } else { tmp[r] = row; r += 1 }
                    }
                    for i in 0..<(r - begin) { ri[l + i] = tmp[begin + i] }
                    mids.set(k, l)
                }
            }
            }
            let midpoints = mids.all

            // Histograms: build the smaller child, derive the larger one by subtraction.
            var builds: [(Int, Int, UnsafeMutablePointer<Double>)] = []
            var derived: [(parent: UnsafeMutablePointer<Double>, small: UnsafeMutablePointer<Double>, large: UnsafeMutablePointer<Double>)] = []
            for (k, (p, s, left)) in toPartition.enumerated() {
                let mid = midpoints[k] ?? p.begin
                let lh = newHist(), rh = newHist()
                let leftSmaller = (mid - p.begin) <= (p.end - mid)
                if leftSmaller {
                    builds.append((p.begin, mid, lh)); derived.append((p.hist, lh, rh))
                } else {
                    builds.append((mid, p.end, rh)); derived.append((p.hist, rh, lh))
                }
                next.append(Pending(node: left, begin: p.begin, end: mid, g: s.leftG, h: s.leftH, hist: lh))
                next.append(Pending(node: left + 1, begin: mid, end: p.end, g: p.g - s.leftG, h: p.h - s.leftH, hist: rh))
            }
            buildHistograms(builds, gh: ghPtr, bins: binPtr, features: features)
            let size = histSize
            for d in derived {
                for i in 0..<size { d.large[i] = d.parent[i] - d.small[i] }
            }
            level = next
        }
        }
        }
        return (tree, leafRanges, rowIndex)
    }

    /// Fills the histograms of `nodes` (row ranges of `rowIndex`); each worker owns a block of
    /// features across all nodes.
    func buildHistograms(_ nodes: [(Int, Int, UnsafeMutablePointer<Double>)], gh: SharedPointer<Float>,
                         bins: SharedPointer<UInt8>, features: [Int])
    {
        let f = x.features
        let blocks = evenRanges(features.count, parts: threads).map { Array(features[$0]) }
        let work = nodes.map { ($0.0, $0.1, SharedMutablePointer($0.2)) }
        rowIndex.withUnsafeBufferPointer { rp in
            guard let rBase = rp.baseAddress else { return }
            let ri = SharedPointer(rBase)
            parallelFor(blocks.count, threads: threads) { b in
                let block = blocks[b]
                block.withUnsafeBufferPointer { fb in
                    guard let fl = fb.baseAddress else { return }
                    let nf = fb.count
                    let contiguous = nf > 0 && fl[nf - 1] - fl[0] == nf - 1
                    let f0 = nf > 0 ? fl[0] : 0
                    for (begin, end, histPtr) in work {
                        let hist = histPtr.base
                        for i in begin..<end {
                            let r = Int(ri.base[i])
                            let g = Double(gh.base[2 &* r]), h = Double(gh.base[2 &* r &+ 1])
                            let rowBins = bins.base + r &* f
                            if contiguous {
                                var j = f0
                                let j1 = f0 + nf
                                while j < j1 {
                                    let idx = (j &* histogramStride &+ Int(rowBins[j])) &* 2
                                    hist[idx] += g
                                    hist[idx &+ 1] += h
                                    j &+= 1
                                }
                            } else {
                                for t in 0..<nf {
                                    let j = fl[t]
                                    let idx = (j &* histogramStride &+ Int(rowBins[j])) &* 2
                                    hist[idx] += g
                                    hist[idx &+ 1] += h
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Best split of one node over `features`, or nil when no split gains more than `gamma`.
    func bestSplit(hist: UnsafeMutablePointer<Double>, g: Double, h: Double, features: [Int]) -> SplitCandidate? {
        let parentScore = score(g, h)
        let mcw = params.minChildWeight
        var best = SplitCandidate()
        best.gain = max(params.gamma, 1e-6)  // XGBoost's kRtEps: ignore numerically empty gains
        var found = false
        for j in features {
            let base = hist + j * histogramStride * 2
            let missingG = base[0], missingH = base[1]
            let bins = cuts.binCount[j]
            if cuts.isCategorical[j] {
                // Partition-based categorical split: order categories by their optimal weight and
                // scan prefixes (as XGBoost and LightGBM do for many categories).
                var cats: [(bin: Int, w: Double)] = []
                for b in 1...max(1, bins) where b < histogramStride && base[2 * b + 1] > 0 {
                    cats.append((b, base[2 * b] / (base[2 * b + 1] + params.regLambda)))
                }
                cats.sort { $0.w != $1.w ? $0.w < $1.w : $0.bin < $1.bin }
                if cats.count < 2 { continue }
                var gl = 0.0, hl = 0.0
                for c in 0..<(cats.count - 1) {
                    gl += base[2 * cats[c].bin]; hl += base[2 * cats[c].bin + 1]
                    for missingLeft in [true, false] {
                        let lg = gl + (missingLeft ? missingG : 0), lh = hl + (missingLeft ? missingH : 0)
                        let rg = g - lg, rh = h - lh
                        if lh < mcw || rh < mcw { continue }
                        let gain = score(lg, lh) + score(rg, rh) - parentScore
                        if gain > best.gain {
                            var mask = CategoryMask()
                            for t in 0...c { mask.insert(UInt8(cats[t].bin)) }
                            best = SplitCandidate(gain: gain, feature: j, bin: 0, defaultLeft: missingLeft,
                                                  isCategorical: true, mask: mask, leftG: lg, leftH: lh)
                            found = true
                        }
                    }
                }
                continue
            }
            if bins < 2 { continue }
            var gl = 0.0, hl = 0.0
            for b in 1..<bins {
                gl += base[2 * b]; hl += base[2 * b + 1]
                // Missing values left first, so ties (and no missing values) default left.
                var lg = gl + missingG, lh = hl + missingH
                if lh >= mcw, h - lh >= mcw {
                    let gain = score(lg, lh) + score(g - lg, h - lh) - parentScore
                    if gain > best.gain {
                        best = SplitCandidate(gain: gain, feature: j, bin: UInt8(b), defaultLeft: true,
                                              isCategorical: false, leftG: lg, leftH: lh)
                        found = true
                    }
                }
                if missingH > 0 {
                    lg = gl; lh = hl
                    if lh >= mcw, h - lh >= mcw {
                        let gain = score(lg, lh) + score(g - lg, h - lh) - parentScore
                        if gain > best.gain {
                            best = SplitCandidate(gain: gain, feature: j, bin: UInt8(b), defaultLeft: false,
                                                  isCategorical: false, leftG: lg, leftH: lh)
                            found = true
                        }
                    }
                }
            }
        }
        return found ? best : nil
    }
}

