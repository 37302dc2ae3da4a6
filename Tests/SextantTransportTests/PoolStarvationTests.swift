import Foundation
import SextantTestSupport
import Synchronization
import Testing

/// Why the tests' helpers wait off Swift's cooperative pool: the pool has one thread per core, so
/// as many tasks blocked in a synchronous wait (here `runCommand` reading a pipe until `sleep`
/// exits) stop every other task of the test process, an unrelated `Task.sleep` included, until
/// they return. The chaos harness stalled for minutes that way on the 2-core machine. The async
/// helpers suspend instead, and the sleep returns on time.
@Suite("Cooperative pool starvation", .serialized)
struct PoolStarvationTests {
    let width = ProcessInfo.processInfo.activeProcessorCount

    /// How long a 100 ms `Task.sleep` takes while one `blocker` per pool thread runs.
    func sleepDuration(besides blocker: @escaping @Sendable () async -> Void) async -> Duration {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<width { group.addTask { await blocker() } }
            let started = ContinuousClock.now
            try? await Task.sleep(for: .milliseconds(100))
            let took = ContinuousClock.now - started
            await group.waitForAll()
            return took
        }
    }

    @Test func synchronousWaitsOnEveryPoolThreadStallAnUnrelatedSleep() async throws {
        let took = await sleepDuration { _ = try? runCommand("sleep", ["2"]) }
        // The sleep can only resume once a blocked thread is free again (after ~2 s).
        #expect(took >= .milliseconds(1500), "a 100 ms sleep took \(took) beside \(width) blocked pool threads")
    }

    @Test func asyncHelpersLeaveThePoolFree() async throws {
        // Half the pool's width in runCommandAsync, half in OffPool.run, each 4 s long.
        let half = Counter()
        let took = await sleepDuration {
            if half.next() % 2 == 0 {
                _ = try? await runCommandAsync("sleep", ["4"])
            } else {
                await OffPool.run { Thread.sleep(forTimeInterval: 4) }
            }
        }
        // Generous for a loaded machine; a blocked pool would hold the sleep for the full 4 s.
        #expect(took < .seconds(3), "a 100 ms sleep took \(took) beside \(width) waits in the async helpers")
    }

    @Test func stopAsyncEndsAProgramThatIgnoresSIGTERM() async throws {
        let program = try TestProcess("sh", ["-c", "trap '' TERM; echo ready; exec sleep 60"])
        _ = try await program.waitForLine(prefix: "ready")
        await program.stopAsync()
        let gone = try await poll(timeout: .seconds(30), every: .milliseconds(20)) { !program.process.isRunning }
        #expect(gone, "the program survived stopAsync")
    }
}

private final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { n in defer { n += 1 }; return n } }
}
