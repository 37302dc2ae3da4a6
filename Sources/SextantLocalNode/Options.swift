import Foundation

/// Settings of a local node. Everything has a default that works for `sextant dev node`.
public struct LocalNodeOptions: Sendable {
    /// The node's name: Pods with this `spec.nodeName` (or none) are run here.
    public var nodeName: String
    /// Per-pod directories (`<workDirectory>/<namespace>/<pod>/`: volumes, logs, termination
    /// messages) and emulated PersistentVolumeClaims (`<workDirectory>/pvc/<namespace>/<claim>/`).
    public var workDirectory: String
    /// Entrypoint name (`sextant-trainer`, `sextant-server`) → local executable. Filled from
    /// `binDirectory` (or the running binary's directory) for names not given here.
    public var executables: [String: String]
    /// Where `sextant-trainer` and `sextant-server` are looked up; nil = next to the running binary.
    public var binDirectory: String?
    /// Only Pods, Jobs and Deployments of this namespace; nil = all namespaces.
    public var namespace: String?
    /// When set, readiness probes run at least this often (pods usually say 10 s; tests want 1 s).
    public var probePeriod: Duration?
    /// How often every object is looked at again without a watch event (timers: deadlines, TTLs,
    /// restarts after backoff).
    public var resyncInterval: Duration
    /// First delay before a failed Job's next Pod and a crashed container's restart; doubles per
    /// failure up to `maximumBackoff` (the real controllers start at 10 s, too slow for a laptop).
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// Upper bound of a Pod's `terminationGracePeriodSeconds` (default 30 in Kubernetes).
    public var maximumGracePeriod: Duration
    /// Grace period of the processes when the node itself stops.
    public var shutdownGracePeriod: Duration
    /// Variables of the node's environment passed to every process (a container's own `env`
    /// wins). Containers get nothing else from the node's environment.
    public var passEnvironment: [String]
    /// HAProxy for the data plane (docs/local-node.md, "Data plane"): every VirtualService a
    /// CanaryRollout names gets a local address that routes by its weights. nil turns it off;
    /// the default is Debian's `/usr/sbin/haproxy` when it is installed.
    public var haproxy: String?
    /// How containers run: local processes (default) or podman containers (docs/local-node.md,
    /// "Runtimes"); podman falls back to processes when it cannot run here.
    public var runtime: RuntimeChoice = .process

    public init(nodeName: String = "sextant-local", workDirectory: String? = nil,
                executables: [String: String] = [:], binDirectory: String? = nil, namespace: String? = nil,
                probePeriod: Duration? = nil, resyncInterval: Duration = .seconds(1),
                initialBackoff: Duration = .seconds(1), maximumBackoff: Duration = .seconds(10),
                maximumGracePeriod: Duration = .seconds(10), shutdownGracePeriod: Duration = .seconds(3),
                passEnvironment: [String] = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"],
                haproxy: String? = LocalNodeOptions.installedHAProxy) {
        self.nodeName = nodeName
        // Absolute: processes run in their Pod directory, so a relative path handed to them
        // (`--result-file`, rewritten volume paths) would resolve against the wrong directory.
        self.workDirectory = URL(fileURLWithPath: workDirectory
            ?? (FileManager.default.temporaryDirectory.path + "/sextant-local-node-" + nodeName)).standardizedFileURL.path
        self.executables = executables
        self.binDirectory = binDirectory
        self.namespace = namespace
        self.probePeriod = probePeriod
        self.resyncInterval = resyncInterval
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.maximumGracePeriod = maximumGracePeriod
        self.shutdownGracePeriod = shutdownGracePeriod
        self.passEnvironment = passEnvironment
        self.haproxy = haproxy
    }

    /// Debian's HAProxy when it is installed.
    public static var installedHAProxy: String? {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : nil
    }
}

/// The images the local node can run and where their executables are.
public struct ImageResolver: Sendable {
    /// The entrypoints of Sextant's own images.
    public static let supportedImages = ["sextant-trainer", "sextant-server"]

    public let executables: [String: String]

    public init(options: LocalNodeOptions) {
        var found = options.executables
        let directory = options.binDirectory ?? ImageResolver.runningBinaryDirectory()
        for name in ImageResolver.supportedImages where found[name] == nil {
            if let directory { found[name] = (directory as NSString).appendingPathComponent(name) }
        }
        executables = found
    }

    /// The repository's last path component without registry, tag or digest:
    /// `ghcr.io/sextant-dev/sextant-trainer:0.1.0` → `sextant-trainer`.
    public static func imageName(_ image: String) -> String {
        var reference = Substring(image)
        if let at = reference.firstIndex(of: "@") { reference = reference[..<at] }
        let lastSlash = reference.lastIndex(of: "/")
        if let colon = reference.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            reference = reference[..<colon]
        }
        if let slash = reference.lastIndex(of: "/") { reference = reference[reference.index(after: slash)...] }
        return String(reference)
    }

    /// The entrypoint name of an image the node runs, nil for any other image.
    public func entrypoint(forImage image: String) -> String? {
        let name = ImageResolver.imageName(image)
        return ImageResolver.supportedImages.contains(name) ? name : nil
    }

    /// The executable of an entrypoint, when it exists.
    public func executable(for entrypoint: String) -> String? {
        guard let path = executables[entrypoint], FileManager.default.isExecutableFile(atPath: path) else { return nil }
        return path
    }

    /// The directory of the running binary (`/proc/self/exe`, else `argv[0]`).
    static func runningBinaryDirectory() -> String? {
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return (exe as NSString).deletingLastPathComponent
        }
        guard let first = CommandLine.arguments.first, first.contains("/") else { return nil }
        let absolute = first.hasPrefix("/") ? first : FileManager.default.currentDirectoryPath + "/" + first
        return (absolute as NSString).deletingLastPathComponent
    }
}
