import Foundation
import SextantJSON
import SextantKubeTypes

/// The Job controller: one Pod at a time per Job (parallelism and completions of 1), retries up
/// to `backoffLimit`, `activeDeadlineSeconds`, `suspend`, `ttlSecondsAfterFinished`.
extension LocalNode {
    static let jobNameLabel = "batch.kubernetes.io/job-name"
    static let legacyJobNameLabel = "job-name"
    static let controllerUIDLabel = "batch.kubernetes.io/controller-uid"

    func syncJob(_ job: JSONValue) async {
        guard !job.isDeleting else { return }
        let spec = job["spec"] ?? .object([:])
        if let managedBy = spec["managedBy"]?.stringValue, managedBy != "kubernetes.io/job-controller" { return }
        let old = job["status"] ?? .object([:])
        let oldConditions = old["conditions"]?.arrayValue ?? []
        func isTrue(_ type: String) -> Bool {
            oldConditions.contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }
        }
        let owned = objects(.pod).filter { $0.controllerUID(kind: "Job") == job.uid }
        let active = owned.filter { !$0.isDeleting && !LocalNode.isFinished($0) }

        if isTrue("Complete") || isTrue("Failed") {
            for pod in active { await delete(.pod, pod) }
            await expireIfDue(job, status: old)
            return
        }

        let now = Date()
        let nowText = KubeTime.format(now)
        var status = old
        var conditions = oldConditions
        func setCondition(_ type: String, _ value: Bool, reason: String, message: String) {
            let new = condition(type, value, reason: reason, message: message, now: nowText,
                                extra: ["lastProbeTime": .string(nowText)])
            if let i = conditions.firstIndex(where: { $0["type"]?.stringValue == type }) {
                if conditions[i]["status"] != new["status"] || conditions[i]["reason"] != new["reason"] {
                    conditions[i] = new
                }
            } else {
                conditions.append(new)
            }
        }

        if spec["suspend"]?.boolValue == true {
            for pod in active { await delete(.pod, pod) }
            setCondition("Suspended", true, reason: "JobSuspended", message: "Job suspended")
            status["conditions"] = .array(conditions)
            status["active"] = nil
            status["ready"] = 0
            if status != old { await writeStatus(.job, job, status) }
            return
        }
        if isTrue("Suspended") {
            setCondition("Suspended", false, reason: "JobResumed", message: "Job resumed")
            // Like the real controller: the deadline counts from the resumption.
            status["startTime"] = .string(nowText)
        }
        if status["startTime"]?.stringValue == nil { status["startTime"] = .string(nowText) }

        let succeeded = owned.filter { $0[path: ["status", "phase"]]?.stringValue == "Succeeded" }.count
        let failedPods = owned.filter { $0[path: ["status", "phase"]]?.stringValue == "Failed" }
        // Counts come from the Pods that still exist, never lower than what status already says.
        let failed = max(failedPods.count, Int(old["failed"]?.intValue ?? 0))
        let template = spec["template"] ?? .object([:])
        let restartPolicy = template[path: ["spec", "restartPolicy"]]?.stringValue
        // With OnFailure the kubelet restarts containers in place; each restart counts as a failure.
        let restarts = restartPolicy == "OnFailure" ? active.reduce(0) { total, pod in
            total + (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reduce(0) {
                $0 + Int($1["restartCount"]?.intValue ?? 0)
            }
        } : 0
        let backoffLimit = Int(spec["backoffLimit"]?.intValue ?? 6)
        let started = status["startTime"]?.stringValue.flatMap(KubeTime.parse) ?? now

        var finished = false
        if restartPolicy != "Never" && restartPolicy != "OnFailure" {
            let message = "spec.template.spec.restartPolicy: Unsupported value: \"\(restartPolicy ?? "")\": "
                + "supported values: \"OnFailure\", \"Never\" (a real API server refuses this Job)"
            setCondition("FailureTarget", true, reason: "Invalid", message: message)
            setCondition("Failed", true, reason: "Invalid", message: message)
            finished = true
        } else if let deadline = spec["activeDeadlineSeconds"]?.intValue, now.timeIntervalSince(started) >= Double(deadline) {
            let message = "Job was active longer than specified deadline"
            setCondition("FailureTarget", true, reason: "DeadlineExceeded", message: message)
            setCondition("Failed", true, reason: "DeadlineExceeded", message: message)
            finished = true
        } else if succeeded >= 1 {
            let message = "Reached expected number of succeeded pods"
            setCondition("SuccessCriteriaMet", true, reason: "CompletionsReached", message: message)
            setCondition("Complete", true, reason: "CompletionsReached", message: message)
            status["completionTime"] = .string(nowText)
            finished = true
        } else if failed + restarts > backoffLimit {
            let message = "Job has reached the specified backoff limit"
            setCondition("FailureTarget", true, reason: "BackoffLimitExceeded", message: message)
            setCondition("Failed", true, reason: "BackoffLimitExceeded", message: message)
            finished = true
        }

        var running = active
        if finished {
            for pod in active { await delete(.pod, pod) }
            running = []
        } else if active.isEmpty {
            // Retry after a delay that doubles per failure, counted from the last failure.
            let lastFailure = failedPods.compactMap(LocalNode.finishedAt).max()
            let retryAt = failed == 0 ? now : (lastFailure ?? now).addingTimeInterval(backoff(failures: failed).seconds)
            if retryAt <= now {
                if let pod = await createPod(jobPod(job, template: template)) { running = [pod] }
            } else {
                let key = job.uid
                if jobRetryAfter[key] != retryAt {
                    jobRetryAfter[key] = retryAt
                    let delay = retryAt.timeIntervalSince(now)
                    Task { [weak self] in
                        try? await Task.sleep(for: .milliseconds(Int(delay * 1000) + 10))
                        await self?.poke()
                    }
                }
            }
        }

        status["conditions"] = conditions.isEmpty ? nil : .array(conditions)
        status["active"] = running.isEmpty ? nil : .int(Int64(running.count))
        status["ready"] = .int(Int64(running.filter(LocalNode.isReady).count))
        status["succeeded"] = succeeded == 0 ? nil : .int(Int64(succeeded))
        status["failed"] = failed == 0 ? nil : .int(Int64(failed))
        if status != old { await writeStatus(.job, job, status) }
    }

    /// Deletes a finished Job once `ttlSecondsAfterFinished` has passed.
    private func expireIfDue(_ job: JSONValue, status: JSONValue) async {
        guard let ttl = job[path: ["spec", "ttlSecondsAfterFinished"]]?.intValue else { return }
        let finishedAt = status["completionTime"]?.stringValue.flatMap(KubeTime.parse)
            ?? (status["conditions"]?.arrayValue ?? []).filter {
                ["Complete", "Failed"].contains($0["type"]?.stringValue ?? "")
            }.compactMap { $0["lastTransitionTime"]?.stringValue.flatMap(KubeTime.parse) }.max()
        guard let finishedAt else { return }
        if Date().timeIntervalSince(finishedAt) >= Double(ttl) {
            logger.info("deleting finished job after its TTL", metadata: ["job": "\(LocalNode.key(job))"])
            await delete(.job, job)
        }
    }

    /// A Pod for the Job from its template, named like the real controller's (`<job>-xxxxx`).
    private func jobPod(_ job: JSONValue, template: JSONValue) -> JSONValue {
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels[LocalNode.jobNameLabel] = .string(job.name)
        labels[LocalNode.legacyJobNameLabel] = .string(job.name)
        labels[LocalNode.controllerUIDLabel] = .string(job.uid)
        labels["controller-uid"] = .string(job.uid)
        var metadata: [String: JSONValue] = [
            "name": .string(String(job.name.prefix(57)) + "-" + LocalNode.randomSuffix()),
            "namespace": .string(job.namespace),
            "labels": .object(labels),
            "ownerReferences": [["apiVersion": "batch/v1", "kind": "Job", "name": .string(job.name),
                                 "uid": .string(job.uid), "controller": true, "blockOwnerDeletion": true]],
        ]
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": .object(metadata),
                "spec": template["spec"] ?? .object([:])]
    }

    static func isFinished(_ pod: JSONValue) -> Bool {
        let phase = pod[path: ["status", "phase"]]?.stringValue
        return phase == "Succeeded" || phase == "Failed"
    }

    static func isReady(_ pod: JSONValue) -> Bool {
        (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains {
            $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True"
        }
    }

    /// When the pod's last container finished.
    static func finishedAt(_ pod: JSONValue) -> Date? {
        (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [])
            .compactMap { $0[path: ["state", "terminated", "finishedAt"]]?.stringValue.flatMap(KubeTime.parse) }
            .max()
    }
}
