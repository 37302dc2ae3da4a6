import Foundation

/// Blocking work run on a thread of its own, so the caller's task suspends instead of holding a
/// thread of Swift's cooperative pool. That pool has one thread per core (2 on the CI and dev
/// machines): two tests blocked in `waitUntilExit`, `usleep` or a socket read stop every other task
/// in the process, the in-process API server and every `Task.sleep` included, until they return.
public enum OffPool {
    /// Runs `work` on a new thread and resumes with its result.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// `run` for work that cannot throw.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}

extension LocalHTTP {
    /// `request` without blocking a pool thread while the peer answers (see `OffPool`).
    public static func requestAsync(_ method: String, port: Int, path: String, body: Data? = nil,
                                    timeoutSeconds: Int = 5) async throws -> Answer {
        try await OffPool.run { try request(method, port: port, path: path, body: body, timeoutSeconds: timeoutSeconds) }
    }
}

extension TestProcess {
    /// `stop` for async code: SIGTERM, then SIGKILL after two seconds, polling with `Task.sleep`
    /// instead of `usleep` so no pool thread is held while the program shuts down.
    public func stopAsync() async {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(2)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning { kill(pid, SIGKILL) }
    }
}

extension Tooling {
    /// `pythonHas` for async code (the import check can take seconds on a loaded machine).
    public static func pythonHasAsync(_ modules: [String]) async -> Bool {
        await OffPool.run { pythonHas(modules) }
    }
}
