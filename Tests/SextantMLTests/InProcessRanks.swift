import Foundation
@testable import SextantML

/// N ranks in one process, one thread each, for unit tests of code written against `Collective`:
/// every operation is an exchange of byte strings through shared slots behind a barrier, so the
/// ranks meet in the same sequence of collectives as under mpirun (a rank that skipped one would
/// hang the test, as it would hang MPI).
final class InProcessRanks: @unchecked Sendable {
    let size: Int
    private let lock = NSCondition()
    private var slots: [[UInt8]?]
    private var arrived = 0
    private var generation = 0
    private var result: [[UInt8]] = []

    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// Every rank's bytes, in rank order, once all ranks have called it. The result of one
    /// exchange cannot be overwritten before every rank has read it: the next exchange completes
    /// only when all ranks (the slowest reader too) have arrived in it.
    func exchange(rank: Int, _ bytes: [UInt8]) -> [[UInt8]] {
        lock.lock()
        defer { lock.unlock() }
        let mine = generation
        slots[rank] = bytes
        arrived += 1
        if arrived == size {
            result = slots.map { $0 ?? [] }
            slots = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            lock.broadcast()
        } else {
            while generation == mine { lock.wait() }
        }
        return result
    }

    struct Rank: Collective {
        let ranks: InProcessRanks
        let rank: Int
        var size: Int { ranks.size }

        func allreduceSum(_ values: UnsafeMutableBufferPointer<Int64>) throws {
            let all = ranks.exchange(rank: rank, Array(UnsafeRawBufferPointer(values)))
            for i in values.indices { values[i] = 0 }
            for bytes in all {
                bytes.withUnsafeBytes { b in
                    for i in values.indices { values[i] &+= b.loadUnaligned(fromByteOffset: i * 8, as: Int64.self) }
                }
            }
        }

        func allreduceMax(_ values: UnsafeMutableBufferPointer<Double>) throws {
            let all = ranks.exchange(rank: rank, Array(UnsafeRawBufferPointer(values)))
            for bytes in all {
                bytes.withUnsafeBytes { b in
                    for i in values.indices { values[i] = max(values[i], b.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
                }
            }
        }

        func broadcast(_ bytes: inout [UInt8], root: Int) throws {
            bytes = ranks.exchange(rank: rank, rank == root ? bytes : [])[root]
        }

        func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]] {
            let all = ranks.exchange(rank: rank, bytes)
            return rank == root ? all : []
        }
    }

    /// Runs `body` on every rank, each on its own thread (not the cooperative pool, which may have
    /// fewer threads than ranks), and returns the ranks' results in rank order.
    func run<T: Sendable>(_ body: @escaping @Sendable (any Collective) throws -> T) -> [Result<T, any Error>] {
        let box = ResultBox<T>(size), done = DispatchGroup(), guardLock = NSLock()
        for r in 0..<size {
            done.enter()
            let rank = Rank(ranks: self, rank: r)
            let thread = Thread {
                let outcome = Result { try body(rank) }
                guardLock.lock(); box.results[r] = outcome; guardLock.unlock()
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return box.results.map { $0 ?? .failure(TrainerError.io("rank did not finish")) }
    }
}

/// The ranks' results, written by their threads under a lock.
private final class ResultBox<T>: @unchecked Sendable {
    var results: [Result<T, any Error>?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}
