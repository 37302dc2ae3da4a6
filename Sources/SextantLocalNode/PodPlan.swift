import Foundation
import SextantJSON

/// A Pod the node cannot run at all (it stays Pending with `PodScheduled=False/Unschedulable`).
struct Unschedulable: Error, Sendable {
    var message: String
}

/// A Pod the node could run but whose inputs are missing for now (a ConfigMap, Secret or key):
/// its containers wait with `CreateContainerConfigError` and the node tries again.
struct ContainerConfigError: Error, Sendable {
    var message: String
}

/// What the node runs for one container, decided from the Pod alone (no API reads).
struct ContainerPlan: Sendable {
    var name: String
    var image: String
    /// `sextant-trainer` or `sextant-server` when the container runs that program, else nil.
    var entrypoint: String?
    /// The local executable (process runtime) or the image (podman).
    var executable: String
    var spec: ContainerModel
    /// Index in `spec.containers`, for messages.
    var index: Int
    var logPath: String
    /// The local file behind `terminationMessagePath`.
    var terminationMessageFile: String
    var fallbackToLogsOnError: Bool

    var isServer: Bool { entrypoint == "sextant-server" }
}

/// Everything the node decides about a Pod before starting it.
struct PodPlan: Sendable {
    var namespace: String
    var name: String
    var uid: String
    var directory: String
    var spec: PodSpecModel
    var containers: [ContainerPlan]
    var restartPolicy: String

    /// The process runtime's plan (unit tests).
    static func make(pod: JSONValue, resolver: ImageResolver, workDirectory: String) throws(Unschedulable) -> PodPlan {
        try make(pod: pod, runtime: ProcessRuntime(resolver: resolver), workDirectory: workDirectory)
    }

    /// Checks that the runtime can run every container's image and that the Pod uses only
    /// features the node emulates.
    static func make(pod: JSONValue, runtime: any PodRuntime, workDirectory: String) throws(Unschedulable) -> PodPlan {
        let spec: PodSpecModel
        do {
            spec = try JSONValueDecoder().decode(PodSpecModel.self, from: pod["spec"] ?? .object([:]))
        } catch {
            throw Unschedulable(message: describeDecodingError(error, root: "spec"))
        }
        if let initContainers = spec.initContainers, !initContainers.isEmpty {
            throw Unschedulable(message: "spec.initContainers: the local node does not run init containers")
        }
        guard let containers = spec.containers, !containers.isEmpty else {
            throw Unschedulable(message: "spec.containers: a Pod needs at least one container")
        }
        let directory = PodPlan.directory(workDirectory: workDirectory, namespace: pod.namespace, name: pod.name)
        let volumeNames = Set((spec.volumes ?? []).map(\.name))
        for (i, volume) in (spec.volumes ?? []).enumerated() {
            let kinds = [volume.configMap != nil, volume.secret != nil, volume.emptyDir != nil, volume.hostPath != nil,
                         volume.persistentVolumeClaim != nil].filter { $0 }.count
            if kinds != 1 {
                let others = (pod[path: ["spec", "volumes"]]?[i]?.objectValue?.keys.filter { $0 != "name" } ?? []).sorted()
                throw Unschedulable(message: "spec.volumes[\(i)] (\(volume.name)): volume type "
                    + (others.isEmpty ? "missing" : others.joined(separator: ", "))
                    + " is not supported by the local node (it supports "
                    + VolumeModel.supportedTypes.joined(separator: ", ") + ")")
            }
        }
        var plans: [ContainerPlan] = []
        for (i, container) in containers.enumerated() {
            let field = "spec.containers[\(i)] (\(container.name))"
            guard let image = container.image, !image.isEmpty else {
                throw Unschedulable(message: "\(field).image is missing")
            }
            let resolved = try runtime.resolve(container, image: image, field: field)
            for (kind, probe) in [("readinessProbe", container.readinessProbe), ("livenessProbe", container.livenessProbe)] {
                if let probe, probe.httpGet == nil {
                    throw Unschedulable(message: "\(field).\(kind): only httpGet probes are emulated")
                }
            }
            for (m, mount) in (container.volumeMounts ?? []).enumerated() where !volumeNames.contains(mount.name) {
                throw Unschedulable(message: "\(field).volumeMounts[\(m)].name: no volume named \"\(mount.name)\"")
            }
            plans.append(ContainerPlan(
                name: container.name, image: image, entrypoint: resolved.entrypoint, executable: resolved.executable,
                spec: container,
                index: i, logPath: "\(directory)/\(container.name).log",
                terminationMessageFile: "\(directory)/\(container.name).termination-log",
                fallbackToLogsOnError: container.terminationMessagePolicy == "FallbackToLogsOnError"))
        }
        let policy = spec.restartPolicy ?? "Always"
        guard ["Always", "OnFailure", "Never"].contains(policy) else {
            throw Unschedulable(message: "spec.restartPolicy: \"\(policy)\" is not Always, OnFailure or Never")
        }
        return PodPlan(namespace: pod.namespace, name: pod.name, uid: pod.uid, directory: directory, spec: spec,
                       containers: plans, restartPolicy: policy)
    }

    static func directory(workDirectory: String, namespace: String, name: String) -> String {
        "\(workDirectory)/\(namespace)/\(name)"
    }
}

/// A container ready to start: the process's command line, environment and directory.
struct LaunchSpec: Sendable {
    var executable: String
    var arguments: [String]
    var environment: [String: String]
    var directory: String
    /// The runtime's name of the container this command runs (podman), nil for a process.
    var container: String? = nil
}

/// Path rewriting: containers cannot mount at their mount paths, so values that name a mount
/// path are pointed at the local directory instead.
struct PathRewriter: Sendable {
    /// (container path, local path), longest container path first.
    var mounts: [(String, String)]
    /// Paths rewritten only when a value is exactly equal (the termination message file).
    var exact: [String: String]

    init(mounts: [(String, String)], exact: [String: String] = [:]) {
        self.mounts = mounts.sorted { $0.0.count > $1.0.count }
        self.exact = exact
    }

    /// `/etc/sextant/config.yaml` → `<pod>/volumes/config/config.yaml`; also `file://` URIs and
    /// the value part of `--flag=VALUE`.
    func rewrite(_ value: String) -> String {
        if value.hasPrefix("-"), let eq = value.firstIndex(of: "=") {
            let head = value[...eq]
            let tail = String(value[value.index(after: eq)...])
            let rewritten = rewrite(tail)
            return rewritten == tail ? value : String(head) + rewritten
        }
        if value.hasPrefix("file://") {
            let path = String(value.dropFirst("file://".count))
            let rewritten = rewritePath(path)
            return rewritten == path ? value : "file://" + rewritten
        }
        return rewritePath(value)
    }

    private func rewritePath(_ path: String) -> String {
        if let local = exact[path] { return local }
        for (mountPath, local) in mounts {
            let trimmed = mountPath.count > 1 && mountPath.hasSuffix("/") ? String(mountPath.dropLast()) : mountPath
            if path == trimmed { return local }
            let prefix = trimmed == "/" ? "/" : trimmed + "/"
            if path.hasPrefix(prefix) { return local + "/" + path.dropFirst(prefix.count) }
        }
        return path
    }
}

/// Kubernetes' `$(VAR)` expansion in `command`, `args` and `env` values: defined names are
/// replaced, `$$` is a literal `$`, anything else stays as written.
func expandVariables(_ text: String, _ environment: [String: String]) -> String {
    guard text.contains("$") else { return text }
    var out = ""
    var i = text.startIndex
    while i < text.endIndex {
        let c = text[i]
        let next = text.index(after: i)
        if c == "$", next < text.endIndex {
            if text[next] == "$" {
                out.append("$")
                i = text.index(after: next)
                continue
            }
            if text[next] == "(", let close = text[next...].firstIndex(of: ")") {
                let name = String(text[text.index(after: next)..<close])
                if let value = environment[name] {
                    out += value
                    i = text.index(after: close)
                    continue
                }
            }
        }
        out.append(c)
        i = next
    }
    return out
}

extension ContainerPlan {
    /// `--listen X` / `--listen=X` replaced by (or, without one, appended as) `--listen
    /// 127.0.0.1:0`: the server binds a free loopback port and prints it (Pods cannot share ports).
    static func listenOnFreeLoopbackPort(_ words: [String]) -> [String] {
        var out: [String] = []
        var sawListen = false
        var skipNext = false
        for word in words {
            if skipNext {
                skipNext = false
                continue
            }
            if word == "--listen" {
                out += ["--listen", "127.0.0.1:0"]
                skipNext = true
                sawListen = true
            } else if word.hasPrefix("--listen=") {
                out.append("--listen=127.0.0.1:0")
                sawListen = true
            } else {
                out.append(word)
            }
        }
        if !sawListen { out += ["--listen", "127.0.0.1:0"] }
        return out
    }

    /// The argument list with `--listen` forced to a free loopback port (sextant-server) and the
    /// result file pointed at the termination message (sextant-trainer's default in a real pod).
    func arguments(expanded environment: [String: String], rewriter: PathRewriter) -> [String] {
        var words = Array((spec.command ?? []).dropFirst()) + (spec.args ?? [])
        words = words.map { rewriter.rewrite(expandVariables($0, environment)) }
        if isServer {
            words = ContainerPlan.listenOnFreeLoopbackPort(words)
        } else if entrypoint == "sextant-trainer",
                  (spec.terminationMessagePath ?? "/dev/termination-log") == "/dev/termination-log",
                  !words.contains(where: { $0 == "--result-file" || $0.hasPrefix("--result-file=") }) {
            // In a pod /dev/termination-log exists and the trainer writes its summary there.
            words += ["--result-file", terminationMessageFile]
        }
        return words
    }
}
