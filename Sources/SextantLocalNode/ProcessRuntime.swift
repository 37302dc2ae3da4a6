import Foundation

/// The default runtime: each container is a local process of `sextant-trainer` or `sextant-server`
/// (found by `ImageResolver`), with volume paths rewritten to local directories because a process
/// cannot mount (docs/local-node.md, "Path and port rewriting").
struct ProcessRuntime: PodRuntime {
    let resolver: ImageResolver
    var name: String { "process" }

    func resolve(_ container: ContainerModel, image: String, field: String) throws(Unschedulable) -> ContainerImage {
        guard let entrypoint = resolver.entrypoint(forImage: image) else {
            throw Unschedulable(message: "\(field).image: the local node cannot run image \"\(image)\"; it runs only "
                + ImageResolver.supportedImages.joined(separator: " and ") + " images (any image with --runtime podman)")
        }
        guard let executable = resolver.executable(for: entrypoint) else {
            throw Unschedulable(message: "\(field).image \"\(image)\": no local executable \(entrypoint) "
                + "(looked for \(resolver.executables[entrypoint] ?? entrypoint); build it or pass --bin-dir)")
        }
        // An MPIJob's launcher (MPIJobController.swift): Open MPI's mpirun from this machine
        // starts the trainer's ranks as local processes.
        if entrypoint == "sextant-trainer", let first = container.command?.first,
           (first as NSString).lastPathComponent == "mpirun" {
            guard let mpirun = ProcessRuntime.findOnPath("mpirun") else {
                throw Unschedulable(message: "\(field).command[0] \"mpirun\": Open MPI's mpirun is not installed on this machine "
                    + "(Debian package openmpi-bin)")
            }
            return ContainerImage(entrypoint: entrypoint, executable: mpirun)
        }
        if let command = container.command, let first = command.first,
           (first as NSString).lastPathComponent != entrypoint {
            throw Unschedulable(message: "\(field).command[0] \"\(first)\": the local node runs only the image's "
                + "entrypoint \(entrypoint) (any command with --runtime podman)")
        }
        return ContainerImage(entrypoint: entrypoint, executable: executable)
    }

    func launch(_ container: ContainerPlan, pod: PodPlan, volumes: [String: String],
                environment podEnvironment: [String: String], options: LocalNodeOptions) throws(Unschedulable) -> LaunchSpec {
        var mounts: [(String, String)] = []
        for mount in container.spec.volumeMounts ?? [] {
            guard let dir = volumes[mount.name] else { continue }
            let local = (mount.subPath ?? "").isEmpty ? dir : dir + "/" + (mount.subPath ?? "")
            mounts.append((mount.mountPath, local))
        }
        let rewriter = PathRewriter(
            mounts: mounts,
            exact: [container.spec.terminationMessagePath ?? "/dev/termination-log": container.terminationMessageFile])
        // Only the listed variables of the node's environment; the Pod's own win.
        var environment: [String: String] = [:]
        let host = ProcessInfo.processInfo.environment
        for name in options.passEnvironment { if let v = host[name] { environment[name] = v } }
        for (k, v) in podEnvironment { environment[k] = rewriter.rewrite(v) }
        var directory = pod.directory
        if let workingDir = container.spec.workingDir, !workingDir.isEmpty {
            let local = rewriter.rewrite(workingDir)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory.boolValue {
                directory = local
            }
        }
        var arguments = container.arguments(expanded: environment, rewriter: rewriter)
        if (container.executable as NSString).lastPathComponent == "mpirun", let entrypoint = container.entrypoint,
           let program = resolver.executable(for: entrypoint) {
            // The program mpirun starts is the image's entrypoint: this machine's build of it.
            arguments = arguments.map { $0 == entrypoint ? program : $0 }
        }
        return LaunchSpec(executable: container.executable,
                          arguments: arguments,
                          environment: environment, directory: directory)
    }

    func imageProblem(_ container: ContainerPlan) async -> String? { nil }

    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/\(name)" } + ["/usr/bin/\(name)"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func exited(_ container: ContainerPlan, launch: LaunchSpec, processExitCode: Int32) async -> ContainerExit {
        ContainerExit(exitCode: processExitCode, reason: nil, containerID: nil)
    }

    func terminate(_ process: RunningProcess, launch: LaunchSpec, grace: Duration) async {
        await process.terminate(grace: grace)
    }

    /// Kills a process a previous node started, if it is still running one of the node's executables.
    func removeLeftover(podDirectory: String, container: String, executables: [String: String]) {
        let pidFile = "\(podDirectory)/\(container).pid"
        guard let pid = Int32(LocalFiles.head(pidFile, limit: 32).trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 1,
              let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return }
        let ours = Set(executables.values.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path })
        if ours.contains(exe) { kill(pid, SIGKILL) }
    }
}
