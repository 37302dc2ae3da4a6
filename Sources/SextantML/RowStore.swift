// Training rows as the tree builder reads them.
import Foundation

/// The training bins in two layouts plus per-row gradients and the node-partitioned row index.
/// Row-major bins (rows padded to 8 bytes) feed the histograms; column-major bins make the
/// partition read one byte column in increasing row order. Before a child's histogram is built its
/// rows are gathered into contiguous scratch, so the histogram kernel streams memory; two scratch
/// buffers, since a level's partition reads the rows the level before gathered.
final class RowStore: @unchecked Sendable {
    // @unchecked: raw buffers; every parallel phase writes disjoint ranges (see TreeBuilder).
    let rows: Int
    let features: Int
    let stride: Int
    let rowBins: UnsafeMutablePointer<UInt8>
    let colBins: UnsafeMutablePointer<UInt8>
    let gh: UnsafeMutablePointer<Float>
    /// Partitioned in place per node (`TreeBuilder.partition`).
    let rowIndex: UnsafeMutablePointer<Int32>
    /// Partition scratch: each block's left rows and right rows, at the block's own positions.
    let rowIndexTmp: UnsafeMutablePointer<Int32>
    let rightScratch: UnsafeMutablePointer<Int32>
    /// Gathered rows of one level and of the next (`TreeBuilder.buildHistograms`).
    let gatherBins: [UnsafeMutablePointer<UInt8>]
    /// The gradient pairs in fixed point (`GradientQuantiser`): what the histograms sum.
    let ghq: UnsafeMutablePointer<Int32>
    let gatherGH: [UnsafeMutablePointer<Int32>]

    init(_ x: BinnedMatrix) {
        rows = x.rows; features = x.features
        stride = (x.features + 7) & ~7
        let n = max(rows, 1)
        rowBins = .allocate(capacity: n * stride); rowBins.initialize(repeating: 0, count: n * stride)
        colBins = .allocate(capacity: n * max(features, 1)); colBins.initialize(repeating: 0, count: n * max(features, 1))
        gh = .allocate(capacity: 2 * n); gh.initialize(repeating: 0, count: 2 * n)
        rowIndex = .allocate(capacity: n); rowIndex.initialize(repeating: 0, count: n)
        rowIndexTmp = .allocate(capacity: n); rowIndexTmp.initialize(repeating: 0, count: n)
        rightScratch = .allocate(capacity: n); rightScratch.initialize(repeating: 0, count: n)
        // Pages of the second buffer are left untouched until a level needs them.
        gatherBins = [.allocate(capacity: n * stride), .allocate(capacity: n * stride)]
        gatherBins[0].initialize(repeating: 0, count: n * stride)
        ghq = .allocate(capacity: 2 * n); ghq.initialize(repeating: 0, count: 2 * n)
        gatherGH = [.allocate(capacity: 2 * n), .allocate(capacity: 2 * n)]
        gatherGH[0].initialize(repeating: 0, count: 2 * n)
        x.bins.withUnsafeBufferPointer { src in
            guard let s = src.baseAddress else { return }
            for r in 0..<rows {
                (rowBins + r * stride).update(from: s + r * features, count: features)
                for j in 0..<features { colBins[j * rows + r] = s[r * features + j] }
            }
        }
    }

    deinit {
        rowBins.deallocate(); colBins.deallocate(); gh.deallocate(); rowIndex.deallocate()
        rowIndexTmp.deallocate(); rightScratch.deallocate(); ghq.deallocate()
        for p in gatherBins { p.deallocate() }
        for p in gatherGH { p.deallocate() }
    }
}
