import Foundation
import SextantAPI
import SextantJSON
import SextantKube
import SextantKubeTypes

/// A run with `spec.workers` > 1: a Kubeflow MPIJob (`kubeflow.org/v2beta1`, MPI Operator
/// v0.8.0) instead of a `batch/v1` Job (docs/training.md#several-workers-mpijob).
///
/// The launcher is also a worker (`runLauncherAsWorker`): the operator writes the launcher first
/// in the hostfile, so rank 0, the rank that writes the artifact and the result summary, runs in
/// the launcher Pod, and the summary comes back through the launcher's termination message
/// exactly as from a Job's Pod. `workers - 1` Worker Pods run `sshd` for mpirun to start the
/// other ranks in (the operator's convention; the image must contain `sshd`).
///
/// The trainer image (hack/images/Dockerfile.trainer) is both: Open MPI's `mpirun`, ssh and an
/// sshd set up for its non-root user 65532, as the operator's own base images do for non-root.
enum TrainingMPIJob {
    static let resource = ResourceDescriptor(group: "kubeflow.org", version: "v2beta1", plural: "mpijobs",
                                             kind: "MPIJob", namespaced: true)
    /// Label on the Pod templates telling the launcher from the workers (the operator also adds
    /// `training.kubeflow.org/job-role`); only the launcher's trainer is read for the result.
    static let roleLabel = SextantGroup.labelPrefix + "mpi-role"
    static let workerContainerName = "worker"
    static let workerCommand = ["/usr/sbin/sshd", "-De"]
    /// Where the operator mounts the MPIJob's SSH Secret (key pair and authorized_keys): the home
    /// of the trainer image's user, since ssh and sshd look there and the image runs as 65532, not
    /// root (the operator's default is /root/.ssh). The image states it as its label
    /// `dev.sextant.mpi.ssh-auth-mount-path`; MPIJobOnLocalNodeTests fails on drift.
    static let sshAuthMountPath = "/home/sextant/.ssh"

    /// The launcher's command: mpirun with one rank per worker (one slot each), the trainer's
    /// environment forwarded to the remote ranks (`-x`: sshd does not pass the Pod's), then the
    /// trainer. Its arguments are the container's `args`, as in a Job.
    static func launcherCommand(workers: Int, environment: [JSONValue]) -> [String] {
        var command = ["mpirun", "-np", String(workers), "--bind-to", "none"]
        for name in environment.compactMap({ $0["name"]?.stringValue }) { command += ["-x", name] }
        return command + ["sextant-trainer"]
    }

    static func mpiJob(_ tj: TrainingJob, run: String, settings: ControllerSettings) throws -> JSONValue {
        let spec = tj.spec
        let workers = spec.workers ?? 1
        let policy = spec.runPolicy
        let launcherContainer = try TrainingResources.trainerContainer(
            tj, settings: settings, command: launcherCommand(workers: workers, environment: TrainingResources.environment(spec)))
        var worker: [String: JSONValue] = [
            "name": .string(workerContainerName),
            "image": .string(TrainingResources.image(tj, settings: settings)),
            "command": .array(workerCommand.map(JSONValue.string)),
            "volumeMounts": [["name": "config", "mountPath": .string(TrainingResources.configMountPath), "readOnly": true]],
        ]
        if let pull = spec.trainer?.imagePullPolicy { worker["imagePullPolicy"] = .string(pull.rawValue) }
        if let resources = spec.pod?.resources { worker["resources"] = try JSONValue(encoding: resources) }
        func template(_ role: String, _ container: [String: JSONValue]) -> JSONValue {
            var labels = TrainingResources.labelJSON(tj, run: run)
            labels[roleLabel] = .string(role)
            return ["metadata": ["labels": labels],
                    "spec": .object(TrainingResources.podSpec(tj, run: run, containers: [container]))]
        }
        var runPolicy: [String: JSONValue] = [
            "cleanPodPolicy": "Running",
            "backoffLimit": .int(Int64(policy?.backoffLimit ?? 0)),
        ]
        runPolicy["activeDeadlineSeconds"] = policy?.activeDeadlineSeconds.map(JSONValue.int)
        runPolicy["ttlSecondsAfterFinished"] = policy?.ttlSecondsAfterFinished.map { .int(Int64($0)) }
        if TrainingResources.createSuspended(tj) { runPolicy["suspend"] = true }
        let mpiSpec: [String: JSONValue] = [
            "slotsPerWorker": 1,
            "runLauncherAsWorker": true,
            "mpiImplementation": "OpenMPI",
            "sshAuthMountPath": .string(sshAuthMountPath),
            "launcherCreationPolicy": "WaitForWorkersReady",
            "runPolicy": .object(runPolicy),
            "mpiReplicaSpecs": [
                "Launcher": ["replicas": 1, "restartPolicy": "Never", "template": template("launcher", launcherContainer)],
                "Worker": ["replicas": .int(Int64(workers - 1)), "restartPolicy": "Never", "template": template("worker", worker)],
            ],
        ]
        return ["apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob",
                "metadata": try TrainingResources.workloadMetadata(tj, run: run, settings: settings),
                "spec": .object(mpiSpec)]
    }

    /// The MPIJob's `Succeeded` / `Failed` conditions as a Job's `Complete` / `Failed` (the
    /// operator copies the launcher Job's failure reason, e.g. `DeadlineExceeded`).
    static func isFinished(_ mpiJob: DynamicObject) -> Bool? {
        if TrainingResources.condition(mpiJob, "Succeeded") != nil { return true }
        if TrainingResources.condition(mpiJob, "Failed") != nil { return false }
        return nil
    }
}

/// Which kind of object runs a run: a Job (1 worker) or an MPIJob.
enum RunWorkload: Sendable {
    case job, mpiJob

    init(workers: Int?) { self = (workers ?? 1) > 1 ? .mpiJob : .job }

    var resource: ResourceDescriptor { self == .job ? TrainingResources.jobs : TrainingMPIJob.resource }
    var kind: String { self == .job ? "Job" : "MPIJob" }

    func isFinished(_ object: DynamicObject) -> Bool? {
        self == .job ? TrainingResources.isFinished(object) : TrainingMPIJob.isFinished(object)
    }

    /// Where `suspend` lives.
    var suspendPath: [String] { self == .job ? ["spec", "suspend"] : ["spec", "runPolicy", "suspend"] }

    func suspendPatch(_ suspend: Bool) -> JSONValue {
        self == .job ? ["spec": ["suspend": .bool(suspend)]] : ["spec": ["runPolicy": ["suspend": .bool(suspend)]]]
    }

    /// The run's object as the reconciler builds it.
    func object(_ tj: TrainingJob, run: String, settings: ControllerSettings) throws -> JSONValue {
        self == .job ? try TrainingResources.job(tj, run: run, settings: settings)
            : try TrainingMPIJob.mpiJob(tj, run: run, settings: settings)
    }

    /// The Pods whose trainer container reports the run: all of a Job's, the launcher of an MPIJob.
    func reportingPods(_ pods: [DynamicObject]) -> [DynamicObject] {
        self == .job ? pods : pods.filter { $0.metadata.labels?[TrainingMPIJob.roleLabel] != "worker" }
    }
}
