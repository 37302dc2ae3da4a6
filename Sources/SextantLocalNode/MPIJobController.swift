import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes

/// What the Kubeflow MPI Operator (v0.8.0, `kubeflow.org/v2beta1`) does for an MPIJob, as far as
/// a single machine needs it (docs/local-node.md, "MPIJobs"): a ConfigMap `<name>-config` with
/// the hostfile, and a launcher `batch/v1` Job `<name>-launcher` from the Launcher template with
/// `OMPI_MCA_orte_default_hostfile` pointing at it; the launcher's `mpirun` then starts every rank
/// as a local process (the hostfile says `localhost slots=<ranks>`). Worker Pods, the SSH Secret
/// and the headless Service are not created: the ranks are processes of the launcher. The
/// MPIJob's status follows the launcher Job: `Created`, `Running`, `Succeeded` or `Failed` (with
/// the launcher Job's reason, e.g. `DeadlineExceeded`), `Suspended`; `runPolicy.suspend`,
/// `backoffLimit` and `activeDeadlineSeconds` go to the launcher Job as the operator does.
extension LocalNode {
    static let mpiJobs = ResourceDescriptor(group: "kubeflow.org", version: "v2beta1", plural: "mpijobs",
                                            kind: "MPIJob", namespaced: true)
    static let configMaps = ResourceDescriptor(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true)
    static let mpiJobNameLabel = "training.kubeflow.org/job-name"
    static let mpiJobRoleLabel = "training.kubeflow.org/job-role"
    static let mpiConfigMountPath = "/etc/mpi"

    /// Ranks the operator's hostfile offers: slots per worker for every Worker replica, plus the
    /// launcher's with `runLauncherAsWorker`.
    static func mpiRanks(_ spec: JSONValue) -> Int {
        let slots = Int(spec["slotsPerWorker"]?.intValue ?? 1)
        let workers = Int(spec[path: ["mpiReplicaSpecs", "Worker", "replicas"]]?.intValue ?? 0)
        let launcher = spec["runLauncherAsWorker"]?.boolValue == true ? 1 : 0
        return max(1, (workers + launcher) * slots)
    }

    func syncMPIJob(_ mpiJob: JSONValue) async {
        guard !mpiJob.isDeleting else { return }
        let spec = mpiJob["spec"] ?? .object([:])
        if let managedBy = spec[path: ["runPolicy", "managedBy"]]?.stringValue, managedBy != "kubeflow.org/mpi-operator" { return }
        let old = mpiJob["status"] ?? .object([:])
        let launcherName = String(mpiJob.name.prefix(54)) + "-launcher"
        let launcher = objects(.job).first { $0.controllerUID(kind: "MPIJob") == mpiJob.uid }
        let suspend = spec[path: ["runPolicy", "suspend"]]?.boolValue == true
        func finished(_ status: JSONValue) -> Bool {
            (status["conditions"]?.arrayValue ?? []).contains {
                ["Succeeded", "Failed"].contains($0["type"]?.stringValue ?? "") && $0["status"]?.stringValue == "True"
            }
        }
        if finished(old) { return }

        guard let launcher else {
            guard !suspend else { return await writeMPIStatus(mpiJob, old, launcher: nil, suspend: true) }
            await ensureHostfile(mpiJob, ranks: LocalNode.mpiRanks(spec))
            if let job = await createLauncher(mpiJob, name: launcherName) { await writeMPIStatus(mpiJob, old, launcher: job, suspend: false) }
            return
        }
        if (launcher[path: ["spec", "suspend"]]?.boolValue ?? false) != suspend {
            await mergePatch(.job, launcher, ["spec": ["suspend": .bool(suspend)]])
        }
        await writeMPIStatus(mpiJob, old, launcher: launcher, suspend: suspend)
    }

    /// The operator's `<name>-config` ConfigMap with the hostfile (all ranks on this machine).
    private func ensureHostfile(_ mpiJob: JSONValue, ranks: Int) async {
        let configMap: JSONValue = [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string(mpiJob.name + "-config"), "namespace": .string(mpiJob.namespace),
                         "labels": [.init(LocalNode.mpiJobNameLabel): .string(mpiJob.name)],
                         "ownerReferences": [LocalNode.mpiOwnerReference(mpiJob)]],
            "data": ["hostfile": .string("localhost slots=\(ranks)\n")],
        ]
        do {
            _ = try await client.create(LocalNode.configMaps, DynamicObject(configMap), namespace: mpiJob.namespace)
        } catch where error.isKube(.alreadyExists) {
        } catch {
            logger.warning("cannot create the MPIJob's hostfile ConfigMap", metadata: ["mpijob": "\(LocalNode.key(mpiJob))", "error": "\(error)"])
        }
    }

    static func mpiOwnerReference(_ mpiJob: JSONValue) -> JSONValue {
        ["apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": .string(mpiJob.name), "uid": .string(mpiJob.uid),
         "controller": true, "blockOwnerDeletion": true]
    }

    /// The launcher Job: the Launcher template, the hostfile mounted at /etc/mpi and named by
    /// `OMPI_MCA_orte_default_hostfile` (as the operator does), plus what Open MPI needs on one
    /// machine (run as root allowed, no ptrace-based single copy).
    private func createLauncher(_ mpiJob: JSONValue, name: String) async -> JSONValue? {
        let spec = mpiJob["spec"] ?? .object([:])
        let replica = spec[path: ["mpiReplicaSpecs", "Launcher"]] ?? .object([:])
        var template = replica["template"] ?? .object([:])
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels[LocalNode.mpiJobNameLabel] = .string(mpiJob.name)
        labels[LocalNode.mpiJobRoleLabel] = "launcher"
        var metadata = template["metadata"]?.objectValue ?? [:]
        metadata["labels"] = .object(labels)
        template["metadata"] = .object(metadata)
        var podSpec = template["spec"]?.objectValue ?? [:]
        let policy = replica["restartPolicy"]?.stringValue ?? "Never"
        podSpec["restartPolicy"] = .string(policy == "ExitCode" ? "Never" : policy)
        var volumes = podSpec["volumes"]?.arrayValue ?? []
        volumes.append(["name": "mpi-job-config", "configMap": ["name": .string(mpiJob.name + "-config"),
                                                                 "items": [["key": "hostfile", "path": "hostfile"]]]])
        podSpec["volumes"] = .array(volumes)
        let mpiEnv: [JSONValue] = [
            ["name": "OMPI_MCA_orte_default_hostfile", "value": .string(LocalNode.mpiConfigMountPath + "/hostfile")],
            ["name": "OMPI_MCA_orte_keep_fqdn_hostnames", "value": "true"],
            ["name": "OMPI_ALLOW_RUN_AS_ROOT", "value": "1"],
            ["name": "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "value": "1"],
            ["name": "OMPI_MCA_btl_vader_single_copy_mechanism", "value": "none"],
        ]
        podSpec["containers"] = .array((podSpec["containers"]?.arrayValue ?? []).map { container in
            var c = container
            c["env"] = .array((container["env"]?.arrayValue ?? []) + mpiEnv)
            c["volumeMounts"] = .array((container["volumeMounts"]?.arrayValue ?? [])
                + [["name": "mpi-job-config", "mountPath": .string(LocalNode.mpiConfigMountPath)]])
            return c
        })
        template["spec"] = .object(podSpec)
        let runPolicy = spec["runPolicy"] ?? .object([:])
        var jobSpec: [String: JSONValue] = [
            "backoffLimit": runPolicy["backoffLimit"] ?? 6,
            "template": template,
        ]
        jobSpec["activeDeadlineSeconds"] = runPolicy["activeDeadlineSeconds"]
        if runPolicy["suspend"]?.boolValue == true { jobSpec["suspend"] = true }
        let job: JSONValue = [
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": ["name": .string(name), "namespace": .string(mpiJob.namespace),
                         "labels": [.init(LocalNode.mpiJobNameLabel): .string(mpiJob.name), .init(LocalNode.mpiJobRoleLabel): "launcher"],
                         "ownerReferences": [LocalNode.mpiOwnerReference(mpiJob)]],
            "spec": .object(jobSpec),
        ]
        do {
            let answer = try await client.create(LocalNode.jobs, DynamicObject(job), namespace: mpiJob.namespace)
            remember(.job, answer.raw)
            poke()
            return answer.raw
        } catch {
            logger.warning("cannot create the MPIJob's launcher Job", metadata: ["mpijob": "\(LocalNode.key(mpiJob))", "error": "\(error)"])
            return nil
        }
    }

    /// The MPIJob's conditions, times and replica counts from its launcher Job.
    private func writeMPIStatus(_ mpiJob: JSONValue, _ old: JSONValue, launcher: JSONValue?, suspend: Bool) async {
        let now = LocalNode.now()
        var conditions = old["conditions"]?.arrayValue ?? []
        func set(_ type: String, _ value: Bool, _ reason: String, _ message: String) {
            let new = condition(type, value, reason: reason, message: message, now: now, extra: ["lastUpdateTime": .string(now)])
            if let i = conditions.firstIndex(where: { $0["type"]?.stringValue == type }) {
                if conditions[i]["status"] != new["status"] || conditions[i]["reason"] != new["reason"] { conditions[i] = new }
            } else {
                conditions.append(new)
            }
        }
        let name = mpiJob.name
        set("Created", true, "MPIJobCreated", "MPIJob \(mpiJob.namespace)/\(name) is created.")
        var status = old
        let jobStatus = launcher?["status"] ?? .object([:])
        func jobCondition(_ type: String) -> JSONValue? {
            jobStatus["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }
        }
        if suspend {
            set("Suspended", true, "MPIJobSuspended", "MPIJob suspended")
            if conditions.contains(where: { $0["type"]?.stringValue == "Running" }) {
                set("Running", false, "MPIJobSuspended", "MPIJob suspended")
            }
        } else if conditions.contains(where: { $0["type"]?.stringValue == "Suspended" && $0["status"]?.stringValue == "True" }) {
            set("Suspended", false, "MPIJobResumed", "MPIJob resumed")
        }
        if status["startTime"] == nil, !suspend { status["startTime"] = .string(now) }
        if jobCondition("Complete") != nil {
            set("Running", false, "MPIJobSucceeded", "MPIJob \(mpiJob.namespace)/\(name) successfully completed.")
            set("Succeeded", true, "MPIJobSucceeded", "MPIJob \(mpiJob.namespace)/\(name) successfully completed.")
            status["completionTime"] = jobStatus["completionTime"] ?? .string(now)
        } else if let failed = jobCondition("Failed") {
            let reason = failed["reason"]?.stringValue ?? "MPIJobFailed"
            let message = "Job has failed because \(failed["message"]?.stringValue ?? "the launcher failed")"
            set("Running", false, reason, message)
            set("Failed", true, reason, message)
            status["completionTime"] = .string(now)
        } else if (jobStatus["active"]?.intValue ?? 0) > 0 {
            set("Running", true, "MPIJobRunning", "MPIJob \(mpiJob.namespace)/\(name) is running.")
        }
        status["conditions"] = .array(conditions)
        var launcherCounts: [String: JSONValue] = [:]
        for key in ["active", "succeeded", "failed"] { if let v = jobStatus[key] { launcherCounts[key] = v } }
        status["replicaStatuses"] = ["Launcher": .object(launcherCounts), "Worker": .object([:])]
        status["lastReconcileTime"] = old["lastReconcileTime"] ?? .string(now)
        // Compare without the reconcile time, so an unchanged MPIJob is not written every pass.
        var before = old
        before["lastReconcileTime"] = nil
        var after = status
        after["lastReconcileTime"] = nil
        if before != after {
            status["lastReconcileTime"] = .string(now)
            await writeStatus(.mpiJob, mpiJob, status)
        }
    }
}
