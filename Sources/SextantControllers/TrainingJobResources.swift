import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes

/// The objects a training run creates: a ConfigMap with the trainer config and a `batch/v1` Job.
enum TrainingResources {
    static let jobs = ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true)
    static let pods = ResourceDescriptor(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    static let configMaps = ResourceDescriptor(ConfigMap.self)
    static let canaryRollouts = ResourceDescriptor(CanaryRollout.self)
    static let modelVersions = ResourceDescriptor(ModelVersion.self)
    static let trainingJobs = ResourceDescriptor(TrainingJob.self)

    static let containerName = "trainer"
    static let configMountPath = "/etc/sextant"

    /// Labels on the ConfigMap, the Job and its Pods.
    static func labels(trainingJob: String, run: String, model: String) -> [String: String] {
        [SextantLabel.trainingJob: trainingJob, SextantLabel.run: run, SextantLabel.model: model]
    }

    static func ownerReference(_ tj: TrainingJob) throws -> OwnerReference { try OwnerReference(controlledBy: tj) }

    /// The run's trainer config as a ConfigMap (`config.yaml`; JSON is YAML).
    static func configMap(_ tj: TrainingJob, run: String, outputURI: String) throws -> ConfigMap {
        let config = try tj.spec.trainerConfig(outputURI: outputURI)
        var meta = ObjectMeta(name: run, namespace: tj.metadata.namespace,
                              labels: labels(trainingJob: tj.metadata.name ?? "", run: run, model: tj.spec.modelName))
        try meta.setControllerReference(ownerReference(tj))
        var cm = ConfigMap(metadata: meta, data: ["config.yaml": String(decoding: try config.encoded(), as: UTF8.self)])
        cm.immutable = true
        return cm
    }

    static func image(_ tj: TrainingJob, settings: ControllerSettings) -> String {
        tj.spec.trainer?.image ?? settings.trainerImage
    }

    /// Environment for S3 access from `secretRef`s (the AWS_* names the trainer reads) and the
    /// endpoint overrides, then `spec.pod.env`. Data and output may use different credentials
    /// only when they are in the same store; the output's win (it is written to).
    static func environment(_ spec: TrainingJobSpec) -> [JSONValue] {
        var env: [JSONValue] = []
        var seen: Set<String> = []
        func add(_ name: String, _ value: JSONValue) {
            guard seen.insert(name).inserted else { return }
            env.append(value)
        }
        func secretEnv(_ secret: String, _ key: String, optional: Bool) -> JSONValue {
            ["name": .string(key), "valueFrom": ["secretKeyRef": ["name": .string(secret), "key": .string(key), "optional": .bool(optional)]]]
        }
        for (secret, endpoint) in [(spec.output.secretRef?.name, spec.output.endpoint),
                                   (spec.data.source.secretRef?.name, spec.data.source.endpoint)] {
            if let endpoint { add("AWS_ENDPOINT_URL_S3", ["name": "AWS_ENDPOINT_URL_S3", "value": .string(endpoint)]) }
            guard let secret else { continue }
            add("AWS_ACCESS_KEY_ID", secretEnv(secret, "AWS_ACCESS_KEY_ID", optional: true))
            add("AWS_SECRET_ACCESS_KEY", secretEnv(secret, "AWS_SECRET_ACCESS_KEY", optional: true))
            add("AWS_SESSION_TOKEN", secretEnv(secret, "AWS_SESSION_TOKEN", optional: true))
            add("AWS_REGION", secretEnv(secret, "AWS_REGION", optional: true))
        }
        for e in spec.pod?.env ?? [] {
            // spec.pod.env overrides what Sextant derived.
            env.removeAll { $0["name"]?.stringValue == e.name }
            env.append(["name": .string(e.name), "value": .string(e.value ?? "")])
        }
        return env
    }

    /// The trainer container of a run's Pod (the Job's Pod, or the MPIJob's launcher with
    /// `command` set to its `mpirun` line).
    static func trainerContainer(_ tj: TrainingJob, settings: ControllerSettings, command: [String]? = nil) throws -> [String: JSONValue] {
        let spec = tj.spec
        var container: [String: JSONValue] = [
            "name": .string(containerName),
            "image": .string(image(tj, settings: settings)),
            "args": .array((["--config", "\(configMountPath)/config.yaml", "--result-file", "/dev/termination-log"]
                            + (spec.trainer?.args ?? [])).map(JSONValue.string)),
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [["name": "config", "mountPath": .string(configMountPath), "readOnly": true]],
        ]
        if let command { container["command"] = .array(command.map(JSONValue.string)) }
        if let policy = spec.trainer?.imagePullPolicy { container["imagePullPolicy"] = .string(policy.rawValue) }
        if let resources = spec.pod?.resources { container["resources"] = try JSONValue(encoding: resources) }
        let env = environment(spec)
        if !env.isEmpty { container["env"] = .array(env) }
        return container
    }

    /// A Pod spec of a run: `containers` plus the config volume and `spec.pod`'s placement.
    static func podSpec(_ tj: TrainingJob, run: String, containers: [[String: JSONValue]]) -> [String: JSONValue] {
        var podSpec: [String: JSONValue] = [
            "restartPolicy": "Never",
            "containers": .array(containers.map(JSONValue.object)),
            "volumes": [["name": "config", "configMap": ["name": .string(run)]]],
        ]
        if let p = tj.spec.pod {
            podSpec["serviceAccountName"] = p.serviceAccountName.map(JSONValue.string)
            podSpec["nodeSelector"] = p.nodeSelector.map { .object($0.mapValues(JSONValue.string)) }
            podSpec["tolerations"] = p.tolerations.map(JSONValue.array)
            podSpec["affinity"] = p.affinity
            podSpec["priorityClassName"] = p.priorityClassName.map(JSONValue.string)
        }
        return podSpec
    }

    /// Metadata of a run's Job or MPIJob: the run's labels and Kueue's from the TrainingJob, the
    /// TrainingJob as controller, the trainer image (read back into the ModelVersion's lineage).
    static func workloadMetadata(_ tj: TrainingJob, run: String, settings: ControllerSettings) throws -> JSONValue {
        let own = labels(trainingJob: tj.metadata.name ?? "", run: run, model: tj.spec.modelName)
        var meta = ObjectMeta(name: run, namespace: tj.metadata.namespace,
                              labels: own.merging(TrainingQueue.workloadLabels(tj.metadata.labels)) { ours, _ in ours })
        try meta.setControllerReference(ownerReference(tj))
        var metaJSON = try JSONValue(encoding: meta)
        metaJSON["annotations"] = [SextantGroup.labelPrefix + "trainer-image": .string(image(tj, settings: settings))]
        return metaJSON
    }

    static func labelJSON(_ tj: TrainingJob, run: String) -> JSONValue {
        .object(labels(trainingJob: tj.metadata.name ?? "", run: run, model: tj.spec.modelName).mapValues(JSONValue.string))
    }

    /// The Job of a run. Everything the trainer needs is in the ConfigMap; the result summary
    /// comes back through the termination message (`FallbackToLogsOnError`: a crash leaves the
    /// log tail there instead).
    static func job(_ tj: TrainingJob, run: String, settings: ControllerSettings) throws -> JSONValue {
        let policy = tj.spec.runPolicy
        let podSpec = podSpec(tj, run: run, containers: [try trainerContainer(tj, settings: settings)])
        var jobSpec: [String: JSONValue] = [
            "backoffLimit": .int(Int64(policy?.backoffLimit ?? 0)),
            "template": ["metadata": ["labels": labelJSON(tj, run: run)], "spec": .object(podSpec)],
        ]
        jobSpec["activeDeadlineSeconds"] = policy?.activeDeadlineSeconds.map(JSONValue.int)
        jobSpec["ttlSecondsAfterFinished"] = policy?.ttlSecondsAfterFinished.map { .int(Int64($0)) }
        if createSuspended(tj) { jobSpec["suspend"] = true }
        return ["apiVersion": "batch/v1", "kind": "Job", "metadata": try workloadMetadata(tj, run: run, settings: settings),
                "spec": .object(jobSpec)]
    }

    /// A new workload starts suspended when the TrainingJob is, or when Kueue admits it.
    static func createSuspended(_ tj: TrainingJob) -> Bool {
        TrainingQueue.createSuspended(userSuspended: tj.spec.runPolicy?.suspend == true, queue: TrainingQueue.queue(labels: tj.metadata.labels))
    }

    // MARK: Reading Jobs and Pods

    static func condition(_ job: DynamicObject, _ type: String) -> JSONValue? {
        job.raw[path: ["status", "conditions"]]?.arrayValue?.first {
            $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True"
        }
    }

    /// What the Job and its Pods say about the run: `pods` report the trainer (the Job's, the
    /// MPIJob's launcher), `workers` are an MPIJob's Worker Pods.
    static func observe(job: DynamicObject, pods: [DynamicObject], workers: [DynamicObject] = [],
                        workload: RunWorkload = .job) -> JobObservation {
        var o = JobObservation()
        o.complete = workload.isFinished(job) == true
        if let failed = condition(job, "Failed") {
            o.failed = true
            o.failureReason = failed["reason"]?.stringValue
            o.failureMessage = failed["message"]?.stringValue
        }
        let ordered = pods.sorted { ($0.metadata.creationTimestamp ?? "", $0.name ?? "") < ($1.metadata.creationTimestamp ?? "", $1.name ?? "") }
        for pod in ordered {
            let statuses = pod.raw[path: ["status", "containerStatuses"]]?.arrayValue ?? []
            for cs in statuses where cs["name"]?.stringValue == containerName || statuses.count == 1 {
                for state in [cs[path: ["lastState", "terminated"]], cs[path: ["state", "terminated"]]] {
                    guard let t = state, t.objectValue != nil else { continue }
                    o.terminations.append(ContainerTermination(exitCode: t["exitCode"]?.doubleValue.map { Int($0) },
                                                               reason: t["reason"]?.stringValue,
                                                               message: t["message"]?.stringValue))
                }
            }
        }
        if workload == .mpiJob {
            o.launcherPod = ordered.last?.name
            o.failedWorkers = workers.sorted { ($0.metadata.creationTimestamp ?? "", $0.name ?? "") < ($1.metadata.creationTimestamp ?? "", $1.name ?? "") }
                .compactMap(workerFailure)
        }
        return o
    }

    /// A Worker Pod's failure as the kubelet reports it: evicted, or a container terminated
    /// OOMKilled or with a non-zero exit. A Pod being deleted (the operator cleaning up after the
    /// launcher ended) is no evidence.
    static func workerFailure(_ pod: DynamicObject) -> WorkerFailure? {
        guard pod.metadata.deletionTimestamp == nil, let name = pod.name else { return nil }
        let status = pod.raw["status"] ?? .object([:])
        if status["reason"]?.stringValue == "Evicted" {
            return WorkerFailure(pod: name, reason: "Evicted", message: status["message"]?.stringValue)
        }
        for cs in status["containerStatuses"]?.arrayValue ?? [] {
            for state in [cs[path: ["state", "terminated"]], cs[path: ["lastState", "terminated"]]] {
                guard let t = state, t.objectValue != nil else { continue }
                let code = t["exitCode"]?.doubleValue.map { Int($0) }
                let reason = t["reason"]?.stringValue
                guard reason == "OOMKilled" || (code ?? 0) != 0 else { continue }
                return WorkerFailure(pod: name, exitCode: code, reason: reason, message: t["message"]?.stringValue)
            }
        }
        return nil
    }

    static func isFinished(_ job: DynamicObject) -> Bool? {
        if condition(job, "Complete") != nil { return true }
        if condition(job, "Failed") != nil { return false }
        return nil
    }
}
