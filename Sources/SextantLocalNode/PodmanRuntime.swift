import Dispatch
import Foundation
import SextantJSON

/// `--runtime podman`: each container run is an attached `podman run` of the Pod's image (any image
/// in podman's local storage; Sextant's three as `hack/images/build.sh` tags them), with its
/// volumes mounted at their mount paths, the termination message file at
/// `terminationMessagePath`, the memory and CPU limits as cgroup limits, and **host networking**
/// (a development node: no Pod IPs; `sextant-server` still gets a free loopback port so that
/// several Pods can run). docs/local-node.md, "Runtimes".
struct PodmanRuntime: PodRuntime {
    let executable: String
    /// Extra environment for podman itself (e.g. `CONTAINERS_CONF`).
    let environment: [String: String]
    let nodeName: String
    var name: String { "podman" }

    /// The label on every container the node starts (its value is the node's name).
    static let nodeLabel = "dev.sextant.local-node"

    /// nil when podman answers here, else what it said.
    static func unavailable(executable: String, environment: [String: String]) async -> String? {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return "\(executable) is not installed" }
        let result = await Tool.run(executable, ["info", "--format", "{{.Host.OCIRuntime.Name}}"],
                                    environment: environment, timeout: 30)
        return result.status == 0 ? nil : "podman info failed (\(result.status)): \(result.output.prefix(500))"
    }

    func resolve(_ container: ContainerModel, image: String, field: String) throws(Unschedulable) -> ContainerImage {
        // Sextant's own programs keep their special handling (--listen) when the image's entrypoint runs.
        let name = ImageResolver.imageName(image)
        let runsEntrypoint = container.command?.first.map { ($0 as NSString).lastPathComponent == name } ?? true
        let entrypoint = ImageResolver.supportedImages.contains(name) && runsEntrypoint ? name : nil
        return ContainerImage(entrypoint: entrypoint, executable: image)
    }

    func launch(_ container: ContainerPlan, pod: PodPlan, volumes: [String: String],
                environment podEnvironment: [String: String], options: LocalNodeOptions) throws(Unschedulable) -> LaunchSpec {
        let spec = container.spec
        let field = "spec.containers[\(container.index)] (\(container.name))"
        var args = ["run", "--name", PodmanRuntime.containerName(pod: pod, container: container.name),
                    "--cidfile", PodmanRuntime.cidFile(podDirectory: pod.directory, container: container.name),
                    "--pull", "never", "--network", "host", "--hostname", pod.name,
                    "--label", "\(PodmanRuntime.nodeLabel)=\(nodeName)",
                    "--label", "io.kubernetes.pod.namespace=\(pod.namespace)",
                    "--label", "io.kubernetes.pod.name=\(pod.name)",
                    "--label", "io.kubernetes.container.name=\(container.name)"]
        for (key, (flag, parse)) in [("memory", ("--memory", ResourceQuantity.bytes)), ("cpu", ("--cpus", ResourceQuantity.cores))] {
            guard let value = spec.resources?.limits?[key] else { continue }
            guard let amount = parse(value) else {
                throw Unschedulable(message: "\(field).resources.limits.\(key): \(value) is not a quantity the local node reads")
            }
            args += [flag, amount]
            // No swap beyond the limit, as the kubelet runs containers.
            if key == "memory" { args += ["--memory-swap", amount] }
        }
        for (m, mount) in (spec.volumeMounts ?? []).enumerated() {
            guard let dir = volumes[mount.name] else { continue }
            let local = (mount.subPath ?? "").isEmpty ? dir : dir + "/" + (mount.subPath ?? "")
            guard mount.mountPath.hasPrefix("/"), !mount.mountPath.contains(":") else {
                throw Unschedulable(message: "\(field).volumeMounts[\(m)].mountPath: \"\(mount.mountPath)\" must be an absolute path without ':'")
            }
            args += ["--volume", local + ":" + mount.mountPath + (mount.readOnly == true ? ":ro" : "")]
        }
        args += ["--volume", container.terminationMessageFile + ":" + (spec.terminationMessagePath ?? "/dev/termination-log")]
        // The Pod's variables travel in podman's environment (`--env NAME` takes it from there): no
        // Secret on a command line, multi-line values intact. Names podman itself reads go as NAME=VALUE.
        var processEnvironment = ProcessInfo.processInfo.environment.merging(environment) { _, ours in ours }
        for (key, value) in podEnvironment.sorted(by: { $0.key < $1.key }) {
            if processEnvironment[key] == nil {
                processEnvironment[key] = value
                args += ["--env", key]
            } else {
                args += ["--env", "\(key)=\(value)"]
            }
        }
        if let workingDir = spec.workingDir, !workingDir.isEmpty { args += ["--workdir", workingDir] }
        let expand = { (word: String) in expandVariables(word, podEnvironment) }
        var command = (spec.command ?? []).map(expand)
        var words = (spec.args ?? []).map(expand)
        if container.isServer {
            // Host networking: the server binds a free loopback port, read from its "listening on" line.
            words = ContainerPlan.listenOnFreeLoopbackPort(Array(command.dropFirst()) + words)
            command = Array(command.prefix(1))
        }
        if !command.isEmpty {
            let json = (try? JSONEncoder().encode(command)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
            args += ["--entrypoint", json]
        }
        args += ["--", container.executable] + words
        return LaunchSpec(executable: executable, arguments: args, environment: processEnvironment,
                          directory: pod.directory,
                          container: PodmanRuntime.containerName(pod: pod, container: container.name))
    }

    func imageProblem(_ container: ContainerPlan) async -> String? {
        let result = await Tool.run(executable, ["image", "exists", container.executable], environment: environment, timeout: 30)
        switch result.status {
        case 0: return nil
        case 1:
            return "image \"\(container.executable)\" is not in podman's local storage and the local node does not pull "
                + "(build Sextant's images with hack/images/build.sh, or podman pull it)"
        default:
            return "podman image exists \"\(container.executable)\" failed: \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    func exited(_ container: ContainerPlan, launch: LaunchSpec, processExitCode: Int32) async -> ContainerExit {
        guard let name = launch.container else { return ContainerExit(exitCode: processExitCode, reason: nil, containerID: nil) }
        let inspect = await Tool.run(executable, ["inspect", "--type", "container", "--format",
                                                  "{{.Id}} {{.State.ExitCode}} {{.State.OOMKilled}}", name],
                                     environment: environment, timeout: 30)
        _ = await Tool.run(executable, ["rm", "--force", "--time", "0", name], environment: environment, timeout: 30)
        let fields = inspect.output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard inspect.status == 0, fields.count == 3, let code = Int32(fields[1]) else {
            // podman failed before the container ran (its message is in the log).
            return ContainerExit(exitCode: processExitCode, reason: nil, containerID: nil)
        }
        let id = fields[0]
        // podman 4.3 on cgroup v1 does not notice memory-cgroup OOM kills; the kernel's log names
        // the container's cgroup.
        let oom = fields[2] == "true" || (code != 0 && KernelLog.reportsOOMKill(cgroupContaining: "libpod-" + id))
        return ContainerExit(exitCode: code, reason: oom ? "OOMKilled" : nil, containerID: "podman://" + id)
    }

    func terminate(_ process: RunningProcess, launch: LaunchSpec, grace: Duration) async {
        guard let name = launch.container else { return await process.terminate(grace: grace) }
        let seconds = Int((Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18).rounded(.up))
        _ = await Tool.run(executable, ["stop", "--time", "\(max(seconds, 0))", name], environment: environment,
                           timeout: Double(seconds) + 30)
        // The attached `podman run` ends with its container; the container is removed even when the
        // node stops before `exited` ran.
        await process.terminate(grace: .seconds(5))
        _ = await Tool.run(executable, ["rm", "--force", "--ignore", "--time", "0", name], environment: environment, timeout: 30)
    }

    func removeLeftover(podDirectory: String, container: String, executables: [String: String]) {
        let id = LocalFiles.head(PodmanRuntime.cidFile(podDirectory: podDirectory, container: container), limit: 128)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !id.isEmpty else { return }
        Tool.runBlocking(executable, ["rm", "--force", "--time", "0", id], environment: environment, timeout: 30)
    }

    /// `k8s_<container>_<pod>_<namespace>_<uid>` as dockershim named them: unique per Pod.
    static func containerName(pod: PodPlan, container: String) -> String {
        "k8s_\(container)_\(pod.name)_\(pod.namespace)_\(pod.uid)"
    }

    static func cidFile(podDirectory: String, container: String) -> String { "\(podDirectory)/\(container).cid" }
}

/// Kubernetes quantities as podman flags.
enum ResourceQuantity {
    /// `512Mi`, `1G`, `1e9`, `1000000` → bytes.
    static func bytes(_ value: JSONValue) -> String? {
        guard let amount = parse(value) else { return nil }
        let bytes = amount.rounded(.up)
        return bytes >= 1 && bytes < 1e18 ? String(Int64(bytes)) : nil
    }

    /// `500m`, `2` → cores.
    static func cores(_ value: JSONValue) -> String? {
        guard let amount = parse(value), amount > 0, amount < 1e6 else { return nil }
        return String(format: "%.3f", amount)
    }

    static func parse(_ value: JSONValue) -> Double? {
        if let number = value.doubleValue ?? value.intValue.map(Double.init) { return number >= 0 ? number : nil }
        guard let text = value.stringValue?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        let suffixes: [(String, Double)] = [
            ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
            ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("m", 1e-3),
        ]
        for (suffix, factor) in suffixes where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number >= 0 else { return nil }
            return number * factor
        }
        guard let number = Double(text), number >= 0, number.isFinite else { return nil }
        return number
    }
}

/// Runs podman (or another tool) on a Dispatch thread, never blocking the cooperative pool.
enum Tool {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                    timeout: Double) async -> Result {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(executable, arguments, environment: environment, timeout: timeout))
            }
        }
    }

    /// stdout and stderr together; status -1 when it could not start or timed out (then killed).
    @discardableResult
    static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String],
                            timeout: Double) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, ours in ours }
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return Result(status: -1, output: "cannot run \(executable): \(error)") }
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        let output = String(decoding: data, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal { return Result(status: -1, output: "timed out: " + output) }
        return Result(status: process.terminationStatus, output: output)
    }
}

/// The kernel's log (`/dev/kmsg`, readable by root), for memory-cgroup OOM kills.
enum KernelLog {
    /// True when an `oom-kill:` record names a memory cgroup containing `fragment`.
    static func reportsOOMKill(cgroupContaining fragment: String) -> Bool {
        let fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        // One record per read, from the oldest kept; EAGAIN at the end.
        for _ in 0..<100_000 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EPIPE { continue }  // records overwritten while reading
                return false
            }
            if n == 0 { return false }
            let record = String(decoding: buffer[0..<n], as: UTF8.self)
            if record.contains("oom-kill:"), record.contains(fragment) { return true }
        }
        return false
    }
}
