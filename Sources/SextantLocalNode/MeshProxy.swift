import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The HAProxy process of the local data plane (master-worker mode). Weight-only changes go through
/// the runtime API (`set weight`, applied in well under a millisecond); anything else (a Pod came or
/// went, a route changed) writes the configuration, checks it with `haproxy -c` and reloads
/// gracefully (SIGUSR2 to the master: the new worker takes the listening sockets over through the
/// stats socket, the old one finishes its requests).
actor MeshProxy {
    let executable: String
    let directory: String
    let logger: Logger
    private var process: Process?
    private var applied: [MeshPlan] = []
    private var appliedListen: [String: String] = [:]

    var configPath: String { directory + "/haproxy.cfg" }
    var socketPath: String { directory + "/haproxy.sock" }
    var pidPath: String { directory + "/haproxy.pid" }

    /// Stops an HAProxy a previous node process started on this directory (its pid file, and its
    /// command line names our configuration), so that its ports and socket are free.
    private func stopLeftover() {
        guard let text = try? String(contentsOfFile: pidPath, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
              let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")),
              String(decoding: cmdline, as: UTF8.self).contains(configPath) else { return }
        kill(pid, SIGTERM)
        for _ in 0..<50 where kill(pid, 0) == 0 { usleep(20_000) }
        logger.info("stopped a leftover haproxy", metadata: ["pid": "\(pid)"])
    }

    init(executable: String, directory: String, logger: Logger) {
        self.executable = executable
        self.directory = directory
        self.logger = logger
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Makes HAProxy route as `plans` say. Throws (and leaves the running configuration in place)
    /// when HAProxy refuses the new configuration.
    func apply(_ plans: [MeshPlan], listen: [String: String]) async throws {
        let sorted = plans.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        if let process, process.isRunning, listen == appliedListen, sorted.count == applied.count,
           zip(sorted, applied).allSatisfy({ $0.sameShape(as: $1) }) {
            let commands = zip(sorted, applied).flatMap { $0.weightCommands(from: $1) }
            if commands.isEmpty { return }
            let answer = try HAProxyRuntimeAPI.send(commands.joined(separator: ";"), socket: socketPath)
            // `set weight` answers nothing on success.
            if !answer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw Failure(description: "haproxy refused \(commands): \(answer)")
            }
            applied = sorted
            return
        }
        if sorted.isEmpty && process == nil { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let text = HAProxyConfig.render(plans: sorted, listen: listen, socket: socketPath)
        let candidate = directory + "/haproxy.cfg.new"
        try Data(text.utf8).write(to: URL(fileURLWithPath: candidate))
        let check = try runCheck(candidate)
        guard check.status == 0 else {
            throw Failure(description: "haproxy -c refused the configuration (\(candidate)): \(check.output)")
        }
        guard rename(candidate, configPath) == 0 else {
            throw Failure(description: "rename \(candidate) → \(configPath): errno \(errno)")
        }
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGUSR2)
        } else {
            try start()
        }
        try await waitForServers(sorted)
        applied = sorted
        appliedListen = listen
    }

    /// Stops HAProxy (SIGTERM to the master: workers stop too).
    func stop() async {
        guard let process, process.isRunning else { return }
        process.terminate()
        for _ in 0..<60 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        self.process = nil
    }

    private func start() throws {
        stopLeftover()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // -W master-worker (reload with SIGUSR2), -db stay in the foreground, -p the master's pid
        // (a node killed with SIGKILL leaves HAProxy running: the next start stops it).
        process.arguments = ["-W", "-db", "-p", pidPath, "-f", configPath]
        let logPath = directory + "/haproxy.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = FileHandle(forWritingAtPath: logPath)
        _ = log?.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log?.close()
        self.process = process
        logger.info("haproxy started", metadata: ["pid": "\(process.processIdentifier)", "config": "\(configPath)"])
    }

    private func runCheck(_ path: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", "-q", "-f", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Waits until the worker answering the runtime API has exactly these backends and servers
    /// (the new worker after a reload: the old one keeps answering until then), at most 10 s.
    private func waitForServers(_ plans: [MeshPlan]) async throws {
        let expectedBackends = Set(plans.flatMap { $0.routes.map(\.backend) } + [HAProxyConfig.noRouteBackend])
        let expectedServers = Set(plans.flatMap { $0.routes.flatMap { r in r.servers.map { "\(r.backend)/\($0.name)" } } })
        let deadline = ContinuousClock.now + .seconds(10)
        var last = ""
        while ContinuousClock.now < deadline {
            if let process, !process.isRunning {
                throw Failure(description: "haproxy exited (\(process.terminationStatus)); see \(directory)/haproxy.log")
            }
            if let backends = try? HAProxyRuntimeAPI.send("show backend", socket: socketPath),
               let servers = try? HAProxyRuntimeAPI.send("show servers state", socket: socketPath) {
                last = backends
                let names = Set(backends.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty })
                // `be_id be_name srv_id srv_name ...` lines.
                let pairs = Set(servers.split(separator: "\n").compactMap { line -> String? in
                    let f = line.split(separator: " ")
                    guard f.count > 4, Int(f[0]) != nil else { return nil }
                    return "\(f[1])/\(f[3])"
                })
                if names == expectedBackends && pairs == expectedServers { return }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "haproxy did not load the new configuration within 10 s (backends: \(last))")
    }
}

/// HAProxy's runtime API over its stats socket: one command line in, the answer until the
/// socket closes.
enum HAProxyRuntimeAPI {
    static func send(_ command: String, socket path: String) throws -> String {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MeshProxy.Failure(description: "socket(): errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw MeshProxy.Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, b) in bytes.enumerated() { buffer[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw MeshProxy.Failure(description: "connect(\(path)): errno \(errno)") }
        let line = Array((command + "\n").utf8)
        var written = 0
        while written < line.count {
            let n = line[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw MeshProxy.Failure(description: "write(\(path)): errno \(errno)") }
            written += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
