import Foundation
import SextantOperator
import Synchronization
import Testing

@Suite struct WorkQueueTests {
    @Test func addingAQueuedKeyAgainDoesNotQueueItTwice() async throws {
        let queue = WorkQueue<String>()
        for _ in 0..<5 { queue.add("a") }
        queue.add("b")
        queue.add("a")
        #expect(queue.depth == 2)
        let first = await queue.get()
        let second = await queue.get()
        #expect(first == "a")
        #expect(second == "b")
        #expect(queue.depth == 0)
    }

    @Test func aKeyAddedWhileProcessingIsHandedOutAgainOnlyAfterDone() async throws {
        let queue = WorkQueue<String>()
        queue.add("a")
        let key = await queue.get()
        #expect(key == "a")
        queue.add("a")  // changed while being reconciled
        #expect(queue.depth == 0, "must not be handed to a second worker while the first holds it")
        let waiter = Task { await queue.get() }
        try await Task.sleep(for: .milliseconds(50))
        queue.done("a")
        let again = await waiter.value
        #expect(again == "a")
        queue.done("a")
        #expect(queue.depth == 0)
    }

    @Test func perItemBackoffDoublesAndIsCapped() {
        let limit = RateLimit(baseDelay: .milliseconds(5), maxDelay: .seconds(1))
        #expect(limit.itemDelay(failures: 1) == .milliseconds(5))
        #expect(limit.itemDelay(failures: 2) == .milliseconds(10))
        #expect(limit.itemDelay(failures: 4) == .milliseconds(40))
        #expect(limit.itemDelay(failures: 30) == .seconds(1))
    }

    @Test func failedKeysComeBackAfterTheirBackoffAndForgetResetsIt() async throws {
        let queue = WorkQueue<String>(rateLimit: RateLimit(baseDelay: .milliseconds(40), maxDelay: .seconds(5),
                                                           qps: 1000, burst: 1000))
        var delays: [Duration] = []
        for attempt in 1...3 {
            let start = ContinuousClock.now
            queue.addRateLimited("a")
            #expect(queue.depth == 0, "a failed key must not come back at once")
            let key = await queue.get()
            delays.append(ContinuousClock.now - start)
            #expect(key == "a")
            #expect(queue.failures("a") == attempt)
            queue.done("a")
        }
        #expect(delays[0] >= .milliseconds(40))
        #expect(delays[1] >= .milliseconds(80))
        #expect(delays[2] >= .milliseconds(160))
        queue.forget("a")
        #expect(queue.failures("a") == 0)
    }

    @Test func theOverallBucketLimitsRetriesOfManyKeys() async throws {
        // burst 5 at 50/s: the 6th..25th retries wait for tokens (20 more tokens take ~400 ms).
        let queue = WorkQueue<Int>(rateLimit: RateLimit(baseDelay: .milliseconds(1), maxDelay: .seconds(1),
                                                        qps: 50, burst: 5))
        let start = ContinuousClock.now
        for i in 0..<25 { queue.addRateLimited(i) }
        for _ in 0..<25 {
            let key = await queue.get()
            if let key { queue.done(key) }
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(350), "took \(elapsed)")
    }

    @Test func addAfterKeepsOnlyTheEarliestPendingRequeue() async throws {
        let queue = WorkQueue<String>()
        queue.add("a", after: .seconds(30))
        queue.add("a", after: .milliseconds(30))
        let start = ContinuousClock.now
        let key = await queue.get()
        #expect(key == "a")
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func shutDownReleasesWaitingWorkers() async throws {
        let queue = WorkQueue<String>()
        let waiter = Task { await queue.get() }
        try await Task.sleep(for: .milliseconds(30))
        queue.shutDown()
        let value = await waiter.value
        #expect(value == nil)
        queue.add("a")
        #expect(queue.depth == 0)
    }

    @Test func cancellingAWaitingWorkerReturnsNil() async throws {
        let queue = WorkQueue<String>()
        let waiter = Task { await queue.get() }
        try await Task.sleep(for: .milliseconds(30))
        waiter.cancel()
        let value = await waiter.value
        #expect(value == nil)
        queue.add("a")
        let next = await queue.get()
        #expect(next == "a", "the cancelled waiter must not swallow the next key")
    }

    @Test func controllerNeverReconcilesOneKeyTwiceAtOnce() async throws {
        let inFlight = Box<Set<String>>([])
        let overlaps = Box(0)
        let runs = Box<[String: Int]>([:])
        let reconciler = ReconcilerFunction { key in
            let clash = inFlight.update { !$0.insert(key.name).inserted }
            if clash { overlaps.update { $0 += 1 } }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 1...5)))
            inFlight.update { _ = $0.remove(key.name) }
            runs.update { $0[key.name, default: 0] += 1 }
            return .done
        }
        let controller = Controller(name: "overlap", reconciler: reconciler,
                                    options: ControllerOptions(concurrency: 8, resyncPeriod: nil))
        let task = Task { await controller.run() }
        // Hammer 5 keys from several producers while 8 workers run.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for i in 0..<300 {
                        controller.queue.add(ObjectKey(namespace: "ns", name: "k\(i % 5)"))
                        if i % 10 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
                    }
                }
            }
        }
        let drained = await eventually { controller.queue.depth == 0 && inFlight.get().isEmpty }
        task.cancel()
        await task.value
        #expect(drained)
        #expect(overlaps.get() == 0)
        let counts = runs.get()
        #expect(counts.count == 5)
        // De-duplication: far fewer reconciles than the 1,200 adds.
        #expect(counts.values.reduce(0, +) < 1200)
    }

    @Test func failingReconcilesAreRetriedWithBackoffAndSuccessForgets() async throws {
        let attempts = Box<[ContinuousClock.Instant]>([])
        let reconciler = ReconcilerFunction { _ in
            let n = attempts.update { $0.append(.now); return $0.count }
            if n < 4 { throw TestFailure("transient \(n)") }
            return .done
        }
        let controller = Controller(name: "retry", reconciler: reconciler, options: ControllerOptions(
            concurrency: 1, resyncPeriod: nil, rateLimit: RateLimit(baseDelay: .milliseconds(30), qps: 1000, burst: 1000)))
        let task = Task { await controller.run() }
        let key = ObjectKey(namespace: "", name: "x")
        controller.queue.add(key)
        let succeeded = await eventually { attempts.get().count >= 4 }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await task.value
        #expect(succeeded)
        let times = attempts.get()
        #expect(times.count == 4)
        if times.count == 4 {
            #expect(times[1] - times[0] >= .milliseconds(30))
            #expect(times[2] - times[1] >= .milliseconds(60))
            #expect(times[3] - times[2] >= .milliseconds(120))
        }
        #expect(controller.queue.failures(key) == 0, "success forgets the failures")
    }

    @Test func requeueAfterComesBack() async throws {
        let calls = Box(0)
        let reconciler = ReconcilerFunction { _ in
            calls.update { $0 += 1; return $0 } == 1 ? .requeue(after: .milliseconds(50)) : .done
        }
        let controller = Controller(name: "requeue", reconciler: reconciler,
                                    options: ControllerOptions(resyncPeriod: nil))
        let task = Task { await controller.run() }
        controller.queue.add(ObjectKey(namespace: "", name: "x"))
        let twice = await eventually(timeout: .seconds(3)) { calls.get() == 2 }
        task.cancel()
        await task.value
        #expect(twice)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
