import Foundation

/// How the node runs a Pod's containers: as local processes (`ProcessRuntime`, the default and the
/// fallback) or as podman containers (`PodmanRuntime`, `--runtime podman`). Either way one local
/// process stands for each container run (the program itself, or an attached `podman run`), its
/// output appended to the container's log file; the kubelet logic (restarts, probes, status) is
/// shared. docs/local-node.md, "Runtimes".
protocol PodRuntime: Sendable {
    /// `process` or `podman`: the `--runtime` value and the scheme of container IDs.
    var name: String { get }

    /// What runs for a container, or why it cannot run on this node (the Pod stays Unschedulable).
    func resolve(_ container: ContainerModel, image: String, field: String) throws(Unschedulable) -> ContainerImage

    /// The local command that runs one container: `volumes` maps each volume name to its local
    /// directory, `environment` is the container's environment as the Pod defines it.
    func launch(_ container: ContainerPlan, pod: PodPlan, volumes: [String: String],
                environment: [String: String], options: LocalNodeOptions) throws(Unschedulable) -> LaunchSpec

    /// nil when the container's image can be run; otherwise why not (the container waits with
    /// `ErrImagePull` / `ImagePullBackOff`).
    func imageProblem(_ container: ContainerPlan) async -> String?

    /// Called once the local process of a container run ended: the container's exit as the
    /// runtime saw it (exit code, `OOMKilled`), after which the runtime forgets the run.
    func exited(_ container: ContainerPlan, launch: LaunchSpec, processExitCode: Int32) async -> ContainerExit

    /// Stops a running container: SIGTERM, then SIGKILL after `grace`; returns once it is gone.
    func terminate(_ process: RunningProcess, launch: LaunchSpec, grace: Duration) async

    /// Removes what a previous node process left running for a container of a Pod directory.
    func removeLeftover(podDirectory: String, container: String, executables: [String: String])
}

/// What a container's image means to a runtime.
struct ContainerImage: Sendable {
    /// `sextant-trainer` or `sextant-server` when the container runs that program (its
    /// `--listen` and result file are handled), else nil.
    var entrypoint: String?
    /// The local executable (process runtime) or the image reference (podman).
    var executable: String
}

/// How a container run ended, as its runtime reports it.
struct ContainerExit: Sendable {
    var exitCode: Int32
    /// `OOMKilled`, or nil for the usual `Completed` / `Error`.
    var reason: String?
    /// The runtime's ID of the run (`podman://<id>`), nil for a process (its pid is used).
    var containerID: String?
}

/// `--runtime`: which `PodRuntime` a node uses.
public enum RuntimeChoice: Sendable, Equatable {
    /// Local processes of Sextant's binaries (the default).
    case process
    /// Containers with podman: the executable and extra environment for it (e.g.
    /// `CONTAINERS_CONF`); the node falls back to processes when podman cannot run here.
    case podman(executable: String = "/usr/bin/podman", environment: [String: String] = [:])
}
