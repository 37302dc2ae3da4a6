import Foundation

/// A helper program started by a test (a Python server, Prometheus, kubectl) and stopped with it.
public final class TestProcess: @unchecked Sendable {
    public let process = Process()
    private let output = Pipe()
    private let reader: PipeReader

    /// Starts `executable` with `arguments`; stdout and stderr are collected.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                directory: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        reader = PipeReader(output.fileHandleForReading)
        try process.run()
    }

    public var text: String { reader.text }

    /// Waits until the output contains a line starting with `prefix` and returns the rest of it.
    /// The timeout is generous: on a loaded CI machine a Python server can take well over 20 s to start.
    public func waitForLine(prefix: String, timeout: Duration = .seconds(90)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            // Read the output once per pass, so the line that arrives at the deadline is still seen.
            let snapshot = text
            for line in snapshot.split(separator: "\n") where line.hasPrefix(prefix) {
                return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
            if !process.isRunning { throw TestSetupError("\(process.arguments ?? []) exited: \(text)") }
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSetupError("timed out waiting for \(prefix) from \(process.arguments ?? []): \(text)")
    }

    /// Stops the program: SIGTERM, then SIGKILL if it is still there after two seconds.
    /// (Polls instead of `waitUntilExit`, which can hang when called off the main thread.)
    public func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
    }

    deinit { stop() }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Paths inside the repository, found from this file's location.
public enum Repo {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Sextant's own Istio and Gateway API CRDs for the local environment and the tests.
    public static let localCRDs: String = root + "/hack/local-crds"

    /// The upstream CRDs beside the repository (`../shared/fixtures`), present in CI only: the one
    /// thing a test may read from outside the repository: the cross-check of `hack/local-crds/`
    /// against them, and the Gateway API rollout run once more on the Gateway API's own CRDs
    /// (both skipped, saying why, when they are absent).
    public static let upstreamFixtures: String = (root as NSString).deletingLastPathComponent + "/shared/fixtures"
}

/// Whether an external tool the test needs is present. A missing tool fails the test with its
/// name, in CI and on a developer's machine alike (hack/install-deps.sh installs every one): the
/// suite never passes with a feature untested.
public enum Tooling {
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// True when python3 can import every module.
    public static func pythonHas(_ modules: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", modules.map { "import \($0)" }.joined(separator: ";")]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// Returns true when the test may run; throws, naming what is missing, when it cannot.
    public static func available(_ what: String, _ present: Bool) throws -> Bool {
        if present { return true }
        throw TestSetupError("\(what) is required but missing: run hack/install-deps.sh (and swift build --build-tests)")
    }
}

/// Runs a command to completion and returns its exit code and combined output.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                       input: Data? = nil) throws -> (code: Int32, output: String) {
    let (p, out, inPipe) = commandProcess(executable, arguments, environment: environment, input: input)
    try p.run()
    if let input {
        inPipe.fileHandleForWriting.write(input)
        try? inPipe.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A throwaway directory removed at deinit.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String
    public init() throws {
        path = NSTemporaryDirectory() + "sextant-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// `runCommand` without blocking a thread of the concurrency pool while the program runs: tests
/// whose program talks to an in-process server (which needs those threads to answer) use this,
/// or several suites running such programs in parallel starve the server on a 2-core machine.
@discardableResult
public func runCommandAsync(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                            input: Data? = nil) async throws -> (code: Int32, output: String) {
    let (p, out, inPipe) = commandProcess(executable, arguments, environment: environment, input: input)
    let reader = PipeReader(out.fileHandleForReading)
    let (exited, exit) = AsyncStream<Void>.makeStream()
    p.terminationHandler = { _ in exit.yield(); exit.finish() }
    try p.run()
    if let input {
        inPipe.fileHandleForWriting.write(input)
        try? inPipe.fileHandleForWriting.close()
    }
    for await _ in exited { break }
    // Until EOF, which a child the program left running can delay: the wait holds no pool thread.
    let output = await reader.end()
    return (p.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// The process both runners start: a bare name through `env`, stdout and stderr into one pipe,
/// stdin from `input` or /dev/null.
private func commandProcess(_ executable: String, _ arguments: [String], environment: [String: String]?,
                            input: Data?) -> (Process, Pipe, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    p.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, n in n } }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    let inPipe = Pipe()
    p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    return (p, out, inPipe)
}

