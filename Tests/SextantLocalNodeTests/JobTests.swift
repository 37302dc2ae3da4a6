import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantTestSupport
import Testing

/// Jobs and bare Pods on the local node, with the real sextant-trainer and sextant-server.
@Suite(.serialized) struct JobTests {
    @Test func trainerJobCompletesWithItsSummaryAsTerminationMessage() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        let data = h.work.file("data.csv")
        try writeTrainingData(data)
        let digest = try runCommand("/usr/bin/env", ["sha256sum", data]).output.prefix(64)
        _ = try await h.client.create(ConfigMap(metadata: ObjectMeta(name: "trainer-config", namespace: "default"),
                                                data: ["config.yaml": trainerConfig(data: data)]))
        let trainer = container("trainer", image: trainerImage,
                                args: ["--config", "/etc/sextant/config.yaml", "--output", "/models/run1",
                                       "--result-file", "/dev/termination-log", "--quiet"],
                                mounts: [("config", "/etc/sextant"), ("models", "/models")])
        let created = try await h.create(NodeHarness.jobs, job("train", containers: [trainer], volumes: [
            ["name": "config", "configMap": ["name": "trainer-config"]],
            ["name": "models", "persistentVolumeClaim": ["claimName": "models"]],
        ]))

        let done = try await h.wait("job train to complete") {
            let j = try await h.get(NodeHarness.jobs, "train")
            return isTrue(j, "Complete") || isTrue(j, "Failed") ? j : nil
        }
        #expect(isTrue(done, "Complete"), "\(done)")
        #expect(condition(done, "Complete")?["reason"] == "CompletionsReached")
        #expect(done[path: ["status", "succeeded"]] == 1)
        #expect(done[path: ["status", "active"]] == nil)
        #expect(done[path: ["status", "startTime"]]?.stringValue != nil)
        #expect(done[path: ["status", "completionTime"]]?.stringValue != nil)

        let pods = try await h.pods(ownedBy: try #require(created[path: ["metadata", "uid"]]?.stringValue))
        let pod = try #require(pods.first)
        #expect(pods.count == 1)
        #expect(phase(pod) == "Succeeded")
        let name = try #require(pod[path: ["metadata", "name"]]?.stringValue)
        #expect(name.hasPrefix("train-") && name.count == "train-".count + 5)
        #expect(pod[path: ["metadata", "labels", "batch.kubernetes.io/job-name"]] == "train")
        #expect(pod[path: ["metadata", "labels", "job-name"]] == "train")
        #expect(pod[path: ["metadata", "labels", "batch.kubernetes.io/controller-uid"]] == created[path: ["metadata", "uid"]])
        #expect(pod[path: ["metadata", "ownerReferences"]]?[0]?["controller"] == true)
        #expect(pod[path: ["spec", "nodeName"]] == "sextant-local")
        #expect(pod[path: ["status", "podIP"]] == "127.0.0.1")
        #expect(!isTrue(pod, "Ready") && isTrue(pod, "PodScheduled"))

        let state = try #require(terminated(pod))
        #expect(state["exitCode"] == 0)
        #expect(state["reason"] == "Completed")
        let message = try #require(state["message"]?.stringValue)
        let summary = try JSONValue.parse(string: message)
        #expect(summary["status"] == "Succeeded")
        #expect(summary[path: ["data", "sha256"]]?.stringValue == String(digest))
        #expect(summary[path: ["data", "rows"]] == 600)
        #expect((summary[path: ["metrics", "aucRoc"]]?.doubleValue ?? 0) > 0.8)
        // --output /models/run1 went to the emulated PersistentVolumeClaim.
        let artifact = h.options.workDirectory + "/pvc/default/models/run1/model.json"
        #expect(FileManager.default.fileExists(atPath: artifact))
        #expect(summary[path: ["artifact", "uri"]]?.stringValue?.hasSuffix("/pvc/default/models/run1/model.json") == true)
        #expect(FileManager.default.fileExists(atPath: h.options.workDirectory + "/default/\(name)/trainer.log"))
    }

    @Test func failingTrainerIsRetriedUntilTheBackoffLimit() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        let data = h.work.file("data.csv")
        try writeTrainingData(data)
        _ = try await h.client.create(ConfigMap(metadata: ObjectMeta(name: "bad-config", namespace: "default"),
                                                data: ["config.yaml": trainerConfig(data: data, extra: "learningRate: 0.1")]))
        // The trainer writes its summary to /dev/termination-log by default in a pod.
        let trainer = container("trainer", image: "sextant-trainer",
                                args: ["--config=/etc/sextant/config.yaml", "--output", h.work.file("out"), "--quiet"],
                                mounts: [("config", "/etc/sextant")])
        let created = try await h.create(NodeHarness.jobs, job("bad", containers: [trainer],
            volumes: [["name": "config", "configMap": ["name": "bad-config"]]], spec: ["backoffLimit": 2]))

        let failed = try await h.wait("job bad to fail") {
            let j = try await h.get(NodeHarness.jobs, "bad")
            return isTrue(j, "Failed") ? j : nil
        }
        #expect(condition(failed, "Failed")?["reason"] == "BackoffLimitExceeded")
        #expect(isTrue(failed, "FailureTarget"))
        #expect(!isTrue(failed, "Complete"))
        #expect(failed[path: ["status", "failed"]] == 3)
        let pods = try await h.pods(ownedBy: try #require(created[path: ["metadata", "uid"]]?.stringValue))
        #expect(pods.count == 3)
        for pod in pods {
            #expect(phase(pod) == "Failed")
            let state = try #require(terminated(pod))
            #expect(state["exitCode"] == 2)
            #expect(state["reason"] == "Error")
            let summary = try JSONValue.parse(string: state["message"]?.stringValue ?? "")
            #expect(summary["reason"] == "BadInput")
            #expect(summary["message"]?.stringValue?.contains("learningRate") == true)
        }
    }

    @Test func activeDeadlineSecondsStopsTheJob() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        let model = try trainModel(in: h.work)
        // sextant-server never exits on its own: a long-running Job pod.
        _ = try await h.create(NodeHarness.jobs, job("slow", containers: [serverContainer(model: model, probe: false)],
                                                     spec: ["activeDeadlineSeconds": 2]))
        let endpoint = try await h.wait("the job's server to listen") {
            try await h.client.list(NodeHarness.pods, namespace: "default", as: DynamicObject.self).items.first?
                .raw[path: ["metadata", "annotations", "mlops.sextant.dev/local-endpoint"]]?.stringValue
        }
        #expect(await httpStatus(endpoint, "/v1/models/demo") == 200)
        let failed = try await h.wait("job slow to fail") {
            let j = try await h.get(NodeHarness.jobs, "slow")
            return isTrue(j, "Failed") ? j : nil
        }
        #expect(condition(failed, "Failed")?["reason"] == "DeadlineExceeded")
        #expect(condition(failed, "Failed")?["message"] == "Job was active longer than specified deadline")
        #expect(failed[path: ["status", "active"]] == nil)
        // The pod was deleted and its process stopped.
        _ = try await h.wait("the server process to stop") { await httpStatus(endpoint, "/v1/models/demo") == nil ? true : nil }
        _ = try await h.wait("the pod to be deleted") {
            try await h.client.list(NodeHarness.pods, namespace: "default", as: DynamicObject.self).items.isEmpty ? true : nil
        }
    }

    @Test func podOfAnotherImageStaysPendingAndUnschedulable() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        _ = try await h.create(NodeHarness.pods, [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "web", "namespace": "default"],
            "spec": ["containers": [["name": "nginx", "image": "nginx:1.27"]]],
        ])
        let pod = try await h.wait("pod web to be marked unschedulable") {
            let p = try await h.get(NodeHarness.pods, "web")
            return condition(p, "PodScheduled") != nil ? p : nil
        }
        #expect(phase(pod) == "Pending")
        let scheduled = try #require(condition(pod, "PodScheduled"))
        #expect(scheduled["status"] == "False")
        #expect(scheduled["reason"] == "Unschedulable")
        let message = scheduled["message"]?.stringValue ?? ""
        #expect(message.contains("\"nginx:1.27\""), "\(message)")
        #expect(message.contains("sextant-trainer") && message.contains("sextant-server"), "\(message)")
        #expect(pod[path: ["spec", "nodeName"]] == nil)

        // A malformed spec is refused the same way, naming the field.
        _ = try await h.create(NodeHarness.pods, [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "odd", "namespace": "default"],
            "spec": ["containers": [["name": "t", "image": .string(trainerImage), "args": .string("--config x")]]],
        ])
        let odd = try await h.wait("pod odd to be marked unschedulable") {
            let p = try await h.get(NodeHarness.pods, "odd")
            return condition(p, "PodScheduled") != nil ? p : nil
        }
        #expect(condition(odd, "PodScheduled")?["message"]?.stringValue?.contains("spec.containers[0].args") == true)
    }

    @Test func podsOfARestartedNodeFailAndTheJobRetries() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        let model = try trainModel(in: h.work)
        let created = try await h.create(NodeHarness.jobs, job("long", containers: [serverContainer(model: model, probe: false)]))
        let uid = try #require(created[path: ["metadata", "uid"]]?.stringValue)
        let first = try await h.wait("the first pod to run") {
            try await h.pods(ownedBy: uid).first { phase($0) == "Running"
                && $0[path: ["metadata", "annotations", "mlops.sextant.dev/local-endpoint"]] != nil }
        }
        let endpoint = try #require(first[path: ["metadata", "annotations", "mlops.sextant.dev/local-endpoint"]]?.stringValue)
        #expect(await httpStatus(endpoint, "/v1/models/demo") == 200)

        await h.stopNode()
        // Shutdown stopped the process; the API still says Running (nobody updated it).
        #expect(await httpStatus(endpoint, "/v1/models/demo") == nil)
        let firstName = try #require(first[path: ["metadata", "name"]]?.stringValue)
        #expect(phase(try await h.get(NodeHarness.pods, firstName)) == "Running")

        h.restartNode()
        let lost = try await h.wait("the old pod to be marked failed") {
            let p = try await h.get(NodeHarness.pods, firstName)
            return phase(p) == "Failed" ? p : nil
        }
        #expect(lost[path: ["status", "reason"]] == "NodeRestarted")
        #expect(terminated(lost)?["exitCode"] == 137)
        let second = try await h.wait("a replacement pod to run") {
            try await h.pods(ownedBy: uid).first { $0[path: ["metadata", "name"]]?.stringValue != firstName
                && phase($0) == "Running" }
        }
        #expect(second[path: ["metadata", "name"]]?.stringValue != firstName)
        let j = try await h.wait("job status to count the failure") {
            let j = try await h.get(NodeHarness.jobs, "long")
            return j?[path: ["status", "failed"]] == 1 && j?[path: ["status", "active"]] == 1 ? j : nil
        }
        #expect(!isTrue(j, "Failed"))
    }

    @Test func suspendedJobWaitsThenRunsWithEnvironmentAndIsDeletedAfterItsTTL() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        let data = h.work.file("data.csv")
        try writeTrainingData(data)
        _ = try await h.client.create(ConfigMap(metadata: ObjectMeta(name: "cfg", namespace: "default"),
                                                data: ["config.yaml": trainerConfig(data: data), "run": "run7"]))
        let trainer = container("trainer", image: trainerImage,
                                args: ["--config", "$(CONFIG)", "--output", "/models/$(RUN)-$(POD_NAME)", "--quiet"],
                                mounts: [("cfg", "/etc/sextant"), ("models", "/models")],
                                extra: ["env": [
                                    ["name": "CONFIG", "value": "/etc/sextant/config.yaml"],
                                    ["name": "RUN", "valueFrom": ["configMapKeyRef": ["name": "cfg", "key": "run"]]],
                                    ["name": "POD_NAME", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]],
                                ]])
        _ = try await h.create(NodeHarness.jobs, job("later", containers: [trainer], volumes: [
            ["name": "cfg", "configMap": ["name": "cfg", "items": [["key": "config.yaml", "path": "config.yaml"]]]],
            ["name": "models", "persistentVolumeClaim": ["claimName": "models"]],
        ], spec: ["suspend": true, "ttlSecondsAfterFinished": 1]))
        let suspended = try await h.wait("the Suspended condition") {
            let j = try await h.get(NodeHarness.jobs, "later")
            return isTrue(j, "Suspended") ? j : nil
        }
        #expect(condition(suspended, "Suspended")?["reason"] == "JobSuspended")
        #expect(suspended[path: ["status", "active"]] == nil)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await h.client.list(NodeHarness.pods, namespace: "default", as: DynamicObject.self).items.isEmpty)

        _ = try await h.client.patch(NodeHarness.jobs, name: "later", .merge(["spec": ["suspend": false]]),
                                     namespace: "default", as: DynamicObject.self)
        let done = try await h.wait("job later to complete") {
            let j = try await h.get(NodeHarness.jobs, "later")
            return isTrue(j, "Complete") ? j : nil
        }
        #expect(condition(done, "Suspended")?["status"] == "False")
        #expect(condition(done, "Suspended")?["reason"] == "JobResumed")
        // The arguments got $(VAR) expansion, the ConfigMap key and the pod's own name.
        let outputs = try FileManager.default.contentsOfDirectory(atPath: h.options.workDirectory + "/pvc/default/models")
        #expect(outputs.count == 1 && outputs[0].hasPrefix("run7-later-"), "\(outputs)")
        _ = try await h.wait("the finished job to be deleted after its TTL", timeout: .seconds(10)) {
            try await h.get(NodeHarness.jobs, "later") == nil ? true : nil
        }
        _ = try await h.wait("its pods to be garbage-collected") {
            try await h.client.list(NodeHarness.pods, namespace: "default", as: DynamicObject.self).items.isEmpty ? true : nil
        }
    }

    @Test func failedPodFallsBackToItsLogsAndMissingConfigMapsWait() async throws {
        guard let h = try await NodeHarness.start() else { return }
        defer { Task { await h.stop() } }
        // The summary goes elsewhere, so the termination file stays empty: the log is the message.
        _ = try await h.create(NodeHarness.pods, [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "fails", "namespace": "default"],
            "spec": ["restartPolicy": "Never", "containers": [
                container("t", image: trainerImage, args: ["--config", "/nowhere.yaml", "--result-file", h.work.file("r.json")],
                          extra: ["terminationMessagePolicy": "FallbackToLogsOnError"]),
            ]],
        ])
        let failed = try await h.wait("pod fails to fail") {
            let p = try await h.get(NodeHarness.pods, "fails")
            return phase(p) == "Failed" ? p : nil
        }
        #expect(terminated(failed)?["exitCode"] == 2)
        #expect(terminated(failed)?["message"]?.stringValue?.contains("config: cannot read '/nowhere.yaml'") == true,
                "\(terminated(failed) ?? nil)")

        // A pod whose ConfigMap does not exist yet waits, then runs once it appears.
        _ = try await h.create(NodeHarness.pods, [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "waits", "namespace": "default"],
            "spec": ["restartPolicy": "OnFailure",
                     "containers": [container("t", image: trainerImage, args: ["--config", "/c/config.yaml", "--quiet"],
                                              mounts: [("c", "/c")])],
                     "volumes": [["name": "c", "configMap": ["name": "late"]]]],
        ])
        let waiting = try await h.wait("the config error") {
            let p = try await h.get(NodeHarness.pods, "waits")
            return p?[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "reason"]] == "CreateContainerConfigError" ? p : nil
        }
        #expect(phase(waiting) == "Pending")
        #expect(waiting[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "message"]]?
            .stringValue?.contains("configmap \"late\" not found") == true)
        let data = h.work.file("data.csv")
        try writeTrainingData(data)
        _ = try await h.client.create(ConfigMap(metadata: ObjectMeta(name: "late", namespace: "default"),
                                                data: ["config.yaml": trainerConfig(data: data, extra: "") .replacingOccurrences(of: "/unused", with: h.work.file("late-out"))]))
        let succeeded = try await h.wait("pod waits to succeed") {
            let p = try await h.get(NodeHarness.pods, "waits")
            return phase(p) == "Succeeded" ? p : nil
        }
        // No --result-file: the node points the trainer at the termination message, as a pod would.
        let summary = try JSONValue.parse(string: terminated(succeeded)?["message"]?.stringValue ?? "")
        #expect(summary["status"] == "Succeeded")
    }
}
