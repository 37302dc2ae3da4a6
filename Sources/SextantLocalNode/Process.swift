import Foundation

/// One started container process. Its exit is reported through `onExit` (Foundation's
/// `terminationHandler`), never by blocking in `waitUntilExit`.
final class RunningProcess: @unchecked Sendable {
    let pid: Int32
    let startedAt: Date
    /// Byte offset in the log file where this run's output starts.
    let logOffset: UInt64
    private let process: Process
    private let state: ExitState

    /// Starts the executable with stdout and stderr appended to `logPath`.
    init(_ launch: LaunchSpec, logPath: String, onExit: @escaping @Sendable (Int32) -> Void) throws {
        let fm = FileManager.default
        // A file that cannot be created fails just below, with its path.
        if !fm.fileExists(atPath: logPath) { _ = fm.createFile(atPath: logPath, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: logPath])
        }
        // The child gets its own copy of the descriptor at spawn; ours is closed right after.
        defer { try? log.close() }
        logOffset = log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launch.executable)
        process.arguments = launch.arguments
        process.environment = launch.environment
        process.currentDirectoryURL = URL(fileURLWithPath: launch.directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        let state = ExitState()
        process.terminationHandler = { finished in
            // A signal death is reported like a shell does: 128 + signal number.
            let code = finished.terminationReason == .uncaughtSignal
                ? 128 + finished.terminationStatus : finished.terminationStatus
            state.set(code)
            onExit(code)
        }
        startedAt = Date()
        try process.run()
        pid = process.processIdentifier
        self.process = process
        self.state = state
    }

    var exitCode: Int32? { state.get() }

    var isRunning: Bool { state.get() == nil }

    func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// SIGTERM, then SIGKILL when the process is still there after `grace`; returns once it
    /// has exited (or after a further 5 s).
    func terminate(grace: Duration) async {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if isRunning { signal(SIGKILL) }
        let hardDeadline = ContinuousClock.now + .seconds(5)
        while isRunning, ContinuousClock.now < hardDeadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// The exit code, written by the termination handler's thread.
private final class ExitState: @unchecked Sendable {
    private let lock = NSLock()
    private var code: Int32?
    func set(_ value: Int32) { lock.withLock { code = value } }
    func get() -> Int32? { lock.withLock { code } }
}

enum LocalFiles {
    /// At most `limit` bytes from the start of a file ("" when missing).
    static func head(_ path: String, limit: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: limit)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The last `lines` lines / `bytes` bytes of a file after `offset`.
    static func tail(_ path: String, from offset: UInt64, lines: Int, bytes: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let end = handle.seekToEndOfFile()
        guard end > offset else { return "" }
        let start = max(offset, end > UInt64(bytes) ? end - UInt64(bytes) : 0)
        handle.seek(toFileOffset: start)
        let data = handle.readDataToEndOfFile()
        var text = String(decoding: data, as: UTF8.self)
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1)
        text = kept.joined(separator: "\n")
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The bytes of a file from `offset` to `end` (or its end); empty when missing.
    static func bytes(_ path: String, from offset: UInt64, to end: UInt64?) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        handle.seek(toFileOffset: offset)
        let data: Data
        if let end { data = (try? handle.read(upToCount: Int(end > offset ? end - offset : 0))) ?? Data() } else {
            data = handle.readDataToEndOfFile()
        }
        return [UInt8](data)
    }

    /// Output of a run from `offset` on (at most 64 KiB), to look for a line.
    static func read(_ path: String, from offset: UInt64, limit: Int = 65_536) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        handle.seek(toFileOffset: offset)
        let data = (try? handle.read(upToCount: limit)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
