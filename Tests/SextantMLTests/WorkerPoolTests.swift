import Foundation
import Synchronization
import Testing
@testable import SextantML

/// `parallelFor` on the spinning `WorkerPool`: every index exactly once, nested and concurrent
/// calls (which the pool hands to Dispatch) complete, and idle workers park and come back.
@Suite(.timeLimit(.minutes(1))) struct WorkerPoolTests {
    final class Counts: @unchecked Sendable {
        // @unchecked: each index is written by the one worker that runs it.
        let slots: UnsafeMutablePointer<Int>
        let count: Int
        init(_ count: Int) { self.count = count; slots = .allocate(capacity: count); slots.initialize(repeating: 0, count: count) }
        deinit { slots.deallocate() }
        var all: [Int] { Array(UnsafeBufferPointer(start: slots, count: count)) }
    }

    final class Tally: Sendable {
        let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    @Test(arguments: [2, 3, 5])
    func everyIndexRunsOnce(threads: Int) {
        for n in [2, 3, 7, 64, 1_000] {
            let counts = Counts(n)
            parallelFor(n, threads: threads) { i in counts.slots[i] += 1 }
            #expect(counts.all == [Int](repeating: 1, count: n), "n \(n)")
        }
    }

    @Test func nestedCallsComplete() {
        let counts = Counts(8 * 8)
        parallelFor(8, threads: 2) { i in
            parallelFor(8, threads: 2) { j in counts.slots[i * 8 + j] += 1 }
        }
        #expect(counts.all == [Int](repeating: 1, count: 64))
    }

    @Test func concurrentCallersComplete() async {
        let total = Tally()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    for _ in 0..<200 { parallelFor(16, threads: 2) { _ in total.add() } }
                }
            }
        }
        #expect(total.count == 6 * 200 * 16)
    }

    @Test func parkedWorkersWakeForTheNextJob() throws {
        let counts = Counts(4)
        parallelFor(4, threads: 2) { i in counts.slots[i] += 1 }
        // Longer than the spin: the worker parks, and must be woken by the next job.
        Thread.sleep(forTimeInterval: Double(WorkerPool.spinNanoseconds) / 1e9 * 20)
        let onWorker = Tally()
        let caller = pthread_self()
        parallelFor(4, threads: 2) { i in
            counts.slots[i] += 1
            if pthread_equal(pthread_self(), caller) == 0 {
                onWorker.add()
            } else {
                // The caller holds its index until the worker has taken one (indices go to
                // whichever thread asks first): only a worker woken from its park can.
                let deadline = Date() + 30
                while onWorker.count == 0, Date() < deadline { usleep(100) }
            }
        }
        #expect(counts.all == [2, 2, 2, 2])
        #expect(onWorker.count >= 1, "the parked worker took part in the next job")
    }
}
