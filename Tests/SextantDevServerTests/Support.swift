import Foundation
import SextantDevServer
import SextantJSON
import SextantTestSupport
import Synchronization
import Testing

/// Calls the handler in-process, the way the HTTP server does.
func call(_ handler: DevAPIHandler, _ method: String, _ target: String, _ body: JSONValue? = nil,
          contentType: String = "application/json", accept: String? = nil) async -> APIResponse {
    var headers = ["content-type": contentType]
    if let accept { headers["accept"] = accept }
    return await handler.handle(APIRequest(method: method, target: target, headers: headers,
                                           body: body.map { $0.serialized() } ?? []))
}

/// Same, with a raw text body (YAML or hand-written JSON).
func call(_ handler: DevAPIHandler, _ method: String, _ target: String, text: String,
          contentType: String) async -> APIResponse {
    await handler.handle(APIRequest(method: method, target: target, headers: ["content-type": contentType],
                                    body: Array(text.utf8)))
}

func newHandler(history: Int = 10_000) -> DevAPIHandler {
    DevAPIHandler(store: ObjectStore(configuration: StoreConfiguration(historyLimit: history)))
}

/// The repository root (the directory holding Package.swift).
let packageRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Sextant's own Istio and Gateway API CRDs for local use and tests (`hack/local-crds`).
let localCRDs: URL = packageRoot.appendingPathComponent("hack/local-crds")

/// Finds an executable on PATH. When it is missing the test fails, naming the tool.
func requireTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    Issue.record("\(name) is required but was not found on PATH (hack/install-deps.sh installs it)")
    return nil
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion and captures its output, without blocking a thread of the
/// concurrency pool (the in-process server needs those threads to answer the program).
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         stdin: String? = nil) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    let stdout = PipeReader(out.fileHandleForReading), stderr = PipeReader(err.fileHandleForReading)
    let (exited, exitContinuation) = AsyncStream<Void>.makeStream()
    process.terminationHandler = { _ in
        exitContinuation.yield()
        exitContinuation.finish()
    }
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    for await _ in exited { break }
    let output = await stdout.end(), errors = await stderr.end()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
                         stderr: String(decoding: errors, as: UTF8.self))
}

/// A server on a free loopback port with a kubeconfig in a temporary directory.
struct RunningServer {
    var server: DevServer
    var directory: URL
    var kubeconfig: String

    static func start(_ configuration: DevServerConfiguration = DevServerConfiguration()) async throws -> RunningServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-dev-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = try await DevServer.start(configuration)
        let kubeconfig = directory.appendingPathComponent("kubeconfig").path
        try server.writeKubeconfig(to: kubeconfig)
        return RunningServer(server: server, directory: directory, kubeconfig: kubeconfig)
    }

    func stop() async {
        await server.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A long-running child process (e.g. `kubectl get -w`) whose output is collected as it arrives.
final class BackgroundProcess: Sendable {
    let process: Process
    private let output: PipeReader

    init(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        self.process = process
        output = PipeReader(pipe.fileHandleForReading)
        try process.run()
    }

    var text: String { output.text }

    /// Waits until the output satisfies `condition` or the timeout passes.
    func waitFor(timeout: Duration = .seconds(10), _ condition: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(text) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(text)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

