import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 20, item 3: how an MPIJob run fails, as the TrainingJob reports it. The real MPI Operator
/// and kubelet cannot run here: the test writes the launcher and Worker Pods and the MPIJob's
/// status as they would (Pod names, labels, container states, the operator's `Failed` condition
/// copied from its launcher Job), into the development API server with the operator's own
/// MPIJob CRD, which validates every status written.
@Suite("MPIJob failure modes", .serialized)
struct MPIJobFailureTests {
    @Test func theRunNamesWhatFailed() async throws {
        let env = try await TrainingEnvironment.start(mpiJobs: true)
        do {
            for name in ["oom", "launcher", "deadline"] {
                var tj = sampleTrainingJob(name)
                tj.spec.workers = 3
                tj.spec.data.split = DataSplit(train: 0.8, validation: 0, test: 0.2)
                var policy = RunPolicy()
                policy.activeDeadlineSeconds = 600
                tj.spec.runPolicy = policy
                _ = try await env.client.create(tj)
            }
            for name in ["oom", "launcher", "deadline"] {
                try await env.eventually("run \(name)-1 recorded", timeout: .seconds(30)) {
                    try await env.trainingJob(name).status?.runs?.first?.name == "\(name)-1"
                }
            }

            // A worker OOMKilled: its rank dies, mpirun notices and exits, the launcher Job fails.
            try await writePod(env, run: "oom-1", role: "worker", name: "oom-1-worker-1", container: "worker",
                               terminated: (137, "OOMKilled", nil))
            try await writePod(env, run: "oom-1", role: "worker", name: "oom-1-worker-0", container: "worker", terminated: nil)
            try await writePod(env, run: "oom-1", role: "launcher", name: "oom-1-launcher-x7k2p", container: "trainer",
                               terminated: (137, "Error", "mpirun noticed that process rank 2 with PID 0 on node oom-1-worker-1 exited on signal 9 (Killed)."))
            try await failMPIJob(env, "oom-1", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit")

            // The launcher failing on its own (mpirun cannot start the remote daemons); the workers run on.
            try await writePod(env, run: "launcher-1", role: "worker", name: "launcher-1-worker-0", container: "worker", terminated: nil)
            try await writePod(env, run: "launcher-1", role: "launcher", name: "launcher-1-launcher-q9m4d", container: "trainer",
                               terminated: (1, "Error", "ORTE was unable to reliably start one or more daemons."))
            try await failMPIJob(env, "launcher-1", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit")

            // The deadline: the launcher Job's activeDeadlineSeconds (runPolicy's); the operator's
            // clean-up leaves a worker killed, which is not the cause.
            try await writePod(env, run: "deadline-1", role: "worker", name: "deadline-1-worker-0", container: "worker",
                               terminated: (137, "Error", nil))
            try await failMPIJob(env, "deadline-1", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline")

            func finished(_ name: String) async throws -> TrainingRun? {
                var run: TrainingRun?
                try await env.eventually("run \(name)-1 finished", timeout: .seconds(30)) {
                    run = try await env.trainingJob(name).status?.runs?.first
                    return run.map { $0.result != .running } ?? false
                }
                return run
            }
            let oom = try #require(try await finished("oom"))
            #expect(oom.result == .failed && oom.reason == "WorkerOOMKilled", "\(oom)")
            #expect(oom.message?.hasPrefix("worker oom-1-worker-1 OOMKilled (exit 137)") == true, "\(oom.message ?? "")")
            #expect(oom.message?.contains("spec.pod.resources.limits.memory") == true, "\(oom.message ?? "")")

            let launcher = try #require(try await finished("launcher"))
            #expect(launcher.result == .failed && launcher.reason == "LauncherFailed", "\(launcher)")
            #expect(launcher.message?.hasPrefix("launcher launcher-1-launcher-q9m4d failed (exit 1); MPIJob BackoffLimitExceeded") == true,
                    "\(launcher.message ?? "")")
            #expect(launcher.message?.contains("unable to reliably start") == true, "\(launcher.message ?? "")")

            let deadline = try #require(try await finished("deadline"))
            #expect(deadline.result == .failed && deadline.reason == "DeadlineExceeded", "\(deadline)")
            #expect(deadline.message?.contains("longer than specified deadline") == true, "\(deadline.message ?? "")")

            #expect(try await env.modelVersions().isEmpty, "a failed run registered a model")
            let degraded = try await env.trainingJob("oom").status?.conditions?.first { $0.type == "Degraded" }
            #expect(degraded?.reason == "WorkerOOMKilled", "\(String(describing: degraded))")
        } catch {
            await env.stop()
            throw error
        }
        await env.stop()
    }

    /// A Pod of the MPIJob as the operator creates it (its template's labels plus the operator's)
    /// with the status the kubelet writes: running, or terminated with (exit code, reason, message).
    func writePod(_ env: TrainingEnvironment, run: String, role: String, name: String, container: String,
                  terminated: (Int, String, String?)?) async throws {
        let mpiJob = try await env.client.get(TrainingEnvironment.mpiJobResource, name: run, namespace: env.namespace,
                                              as: DynamicObject.self).raw
        let replica = role == "launcher" ? "Launcher" : "Worker"
        let template = mpiJob[path: ["spec", "mpiReplicaSpecs", replica, "template"]] ?? [:]
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels["training.kubeflow.org/job-name"] = .string(run)
        labels["training.kubeflow.org/job-role"] = .string(role)
        let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod",
                              "metadata": ["name": .string(name), "namespace": .string(env.namespace), "labels": .object(labels)],
                              "spec": template["spec"] ?? [:]]
        var written: DynamicObject = try await env.client.create(TrainingEnvironment.podResource, DynamicObject(pod), namespace: env.namespace)
        let now = JSONValue.string(KubeTime.format(Date()))
        let state: JSONValue
        if let (code, reason, message) = terminated {
            var t: [String: JSONValue] = ["exitCode": .int(Int64(code)), "reason": .string(reason), "startedAt": now, "finishedAt": now]
            t["message"] = message.map(JSONValue.string)
            state = ["terminated": .object(t)]
        } else {
            state = ["running": ["startedAt": now]]
        }
        written.raw["status"] = ["phase": .string(terminated == nil ? "Running" : "Failed"),
                                 "containerStatuses": [["name": .string(container), "ready": .bool(terminated == nil), "restartCount": 0,
                                                        "image": "sextant-trainer:test", "imageID": "", "state": state]]]
        let _: DynamicObject = try await env.client.update(TrainingEnvironment.podResource, name: name, written,
                                                           namespace: env.namespace, subresource: "status")
    }

    /// The MPIJob's status as MPI Operator v0.8.0 writes it once its launcher Job failed.
    func failMPIJob(_ env: TrainingEnvironment, _ name: String, reason: String, message: String) async throws {
        var mpiJob = try await env.client.get(TrainingEnvironment.mpiJobResource, name: name, namespace: env.namespace, as: DynamicObject.self)
        let now = JSONValue.string(KubeTime.format(Date()))
        func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSONValue {
            ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message),
             "lastUpdateTime": now, "lastTransitionTime": now]
        }
        mpiJob.raw["status"] = [
            "conditions": [condition("Created", "True", "MPIJobCreated", "MPIJob default/\(name) is created."),
                           condition("Running", "False", reason, message),
                           condition("Failed", "True", reason, message)],
            "replicaStatuses": ["Launcher": ["failed": 1], "Worker": ["active": 1]],
            "startTime": now, "completionTime": now, "lastReconcileTime": now,
        ]
        let _: DynamicObject = try await env.client.update(TrainingEnvironment.mpiJobResource, name: name, mpiJob,
                                                           namespace: env.namespace, subresource: "status")
    }
}
