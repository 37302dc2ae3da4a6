import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import Testing

/// The TrainingJob controller against the development API server; the test plays the Job
/// controller and kubelet by writing Pod and Job status through the API.
@Suite("TrainingJob controller", .serialized)
struct TrainingJobControllerTests {
    @Test func oneShotRunCreatesTheJobAndRegistersTheVersion() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        var tj = sampleTrainingJob("churn-train")
        var pod = PodPlacement(resources: ResourceRequirements(limits: ["memory": .string("2Gi")]), serviceAccountName: "trainer")
        pod.env = [EnvVar(name: "LOG_LEVEL", value: "debug")]
        tj.spec.pod = pod
        tj.spec.data.source.secretRef = SecretReference(name: "s3-creds")
        var policy = RunPolicy()
        policy.activeDeadlineSeconds = 600
        tj.spec.runPolicy = policy
        _ = try await env.client.create(tj)

        let job = try await env.waitForJob("churn-train-1")
        try await env.waitForRun("churn-train", "churn-train-1")
        let spec = try #require(job.raw["spec"])
        #expect(job.metadata.labels?[SextantLabel.trainingJob] == "churn-train")
        #expect(job.metadata.labels?[SextantLabel.run] == "churn-train-1")
        #expect(job.metadata.labels?[SextantLabel.model] == "churn")
        #expect(job.metadata.ownerReferences?.first?.kind == "TrainingJob" && job.metadata.ownerReferences?.first?.controller == true)
        #expect(spec["backoffLimit"]?.intValue == 0 && spec["activeDeadlineSeconds"]?.intValue == 600)
        #expect(spec["ttlSecondsAfterFinished"]?.intValue == 86400)
        let podSpec = try #require(spec[path: ["template", "spec"]])
        #expect(podSpec["serviceAccountName"]?.stringValue == "trainer")
        let container = try #require(podSpec["containers"]?[0])
        #expect(container["image"]?.stringValue == "sextant-trainer:test")
        #expect(container["args"] == ["--config", "/etc/sextant/config.yaml", "--result-file", "/dev/termination-log"])
        #expect(container["terminationMessagePolicy"]?.stringValue == "FallbackToLogsOnError")
        #expect(container[path: ["resources", "limits", "memory"]]?.stringValue == "2Gi")
        let env_ = container["env"]?.arrayValue ?? []
        #expect(env_.contains { $0["name"]?.stringValue == "AWS_ACCESS_KEY_ID" && $0[path: ["valueFrom", "secretKeyRef", "name"]]?.stringValue == "s3-creds" })
        #expect(env_.contains { $0["name"]?.stringValue == "LOG_LEVEL" && $0["value"]?.stringValue == "debug" })
        #expect(spec[path: ["template", "metadata", "labels", SextantLabel.run]]?.stringValue == "churn-train-1")
        // The trainer config is the spec's training part, with the run's output directory.
        let config = try await env.trainerConfig(run: "churn-train-1")
        #expect(config[path: ["output", "uri"]]?.stringValue == "file:///models/churn/v1/")
        #expect(config["target"]?.stringValue == "churned" && config[path: ["data", "uri"]]?.stringValue == "file:///data/churn.csv")

        var running = try await env.trainingJob("churn-train")
        #expect(running.status?.phase == .running && running.status?.activeRun == "churn-train-1")
        #expect(running.status?.runs?.first?.trigger.type == .created)

        try await env.finishJob("churn-train-1", exitCode: 0, message: trainerSummary())
        try await env.eventually("ModelVersion churn-v1") { (try? await env.modelVersion("churn-v1")) != nil }
        let mv = try await env.modelVersion("churn-v1")
        #expect(mv.spec.version == 1 && mv.spec.modelName == "churn")
        #expect(mv.spec.artifact.uri == "file:///models/churn/v1/model.json" && mv.spec.artifact.sha256 == String(repeating: "ab", count: 32))
        #expect(mv.spec.artifact.sizeBytes == 12345 && mv.spec.artifact.format == .sextantJSON)
        #expect(mv.spec.data?.sha256 == String(repeating: "cd", count: 32) && mv.spec.data?.rows == 5000 && mv.spec.data?.version == "2026-03")
        #expect(mv.spec.metrics?["aucRoc"] == 0.91)
        #expect(mv.spec.gates?.passed == true && mv.spec.gates?.results?.first?.checks?.first?.value == 0.91)
        #expect(mv.spec.lineage?.trainingJob == "churn-train" && mv.spec.lineage?.run == "churn-train-1")
        #expect(mv.spec.lineage?.jobName == "churn-train-1" && mv.spec.lineage?.trainerImage == "sextant-trainer:test")
        #expect(mv.spec.approval?.state == .approved)
        #expect(mv.metadata.ownerReferences == nil)  // a registry entry outlives its TrainingJob
        #expect(mv.metadata.labels?[SextantLabel.run] == "churn-train-1")

        try await env.eventually("run recorded as succeeded") {
            let s = try await env.trainingJob("churn-train").status
            return s?.runs?.first?.result == .succeeded && s?.latestModelVersion == "churn-v1" && s?.phase == .succeeded
        }
        running = try await env.trainingJob("churn-train")
        let run = try #require(running.status?.runs?.first)
        #expect(run.modelVersion == "churn-v1" && run.dataSha256 == String(repeating: "cd", count: 32))
        #expect(Conditions.isTrue(running.status?.conditions, type: ConditionType.succeeded))
        // The ModelVersion controller approves it (policy Automatic, gates passed).
        try await env.eventually("ModelVersion approved") {
            let s = try await env.modelVersion("churn-v1").status
            return s?.phase == .approved && Conditions.isTrue(s?.conditions, type: ConditionType.approved)
        }
        try await env.eventually("Events") {
            let registered = try await env.events(reason: "ModelRegistered")
            let started = try await env.events(reason: "RunStarted")
            return !registered.isEmpty && !started.isEmpty
        }
        // No second run and no second version: the job ran once.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await env.jobs(of: "churn-train").count == 1)
        #expect(try await env.modelVersions().count == 1)
    }

    @Test func failingGateRegistersNothingAndSaysWhy() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(sampleTrainingJob("gated"))
        try await env.waitForRun("gated", "gated-1")
        try await env.finishJob("gated-1", exitCode: 3, message: trainerSummary(status: "GateFailed", auc: 0.61, gatePassed: false))
        try await env.eventually("run GateFailed") {
            try await env.trainingJob("gated").status?.runs?.first?.result == .gateFailed
        }
        let tj = try await env.trainingJob("gated")
        let run = try #require(tj.status?.runs?.first)
        #expect(run.reason == "GateFailed")
        #expect(run.message?.contains("performance.aucRoc: value 0.61, threshold 0.7") == true, "\(run.message ?? "")")
        #expect(run.modelVersion == nil)
        #expect(tj.status?.phase == .failed)
        #expect(Conditions.isTrue(tj.status?.conditions, type: ConditionType.degraded))
        #expect(try await env.modelVersions().isEmpty)
        try await env.eventually("GateFailed Event") { try await !env.events(reason: "GateFailed").isEmpty }
    }

    @Test(arguments: [
        (137, "OOMKilled", nil as String?, "BackoffLimitExceeded", RunResult.failed, "OOMKilled"),
        (2, "Error", trainerSummary(status: "Failed"), "BackoffLimitExceeded", RunResult.invalidInput, "BadInput"),
        (139, "Error", "Fatal error: index out of range\n", "BackoffLimitExceeded", RunResult.failed, "BackoffLimitExceeded"),
    ])
    func failuresAreClassified(exitCode: Int, reason: String, message: String?, jobReason: String, result: RunResult,
                               expectedReason: String) async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(sampleTrainingJob("broken"))
        try await env.waitForRun("broken", "broken-1")
        try await env.finishJob("broken-1", exitCode: exitCode, message: message, reason: reason, jobFailureReason: jobReason)
        try await env.eventually("run \(result)") { try await env.trainingJob("broken").status?.runs?.first?.result == result }
        let run = try #require(try await env.trainingJob("broken").status?.runs?.first)
        #expect(run.reason == expectedReason, "\(run)")
        try await env.eventually("RunFailed Event") { try await !env.events(reason: "RunFailed").isEmpty }
    }

    @Test func deadlineExceeded() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(sampleTrainingJob("slow"))
        try await env.waitForRun("slow", "slow-1")
        try await env.setJobCondition("slow-1", complete: false, reason: "DeadlineExceeded", message: "Job was active longer than specified deadline")
        try await env.eventually("run failed with DeadlineExceeded") {
            try await env.trainingJob("slow").status?.runs?.first?.reason == "DeadlineExceeded"
        }
    }

    @Test func invalidSpecGetsAConditionNamingTheField() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        var tj = sampleTrainingJob("bad-cron")
        tj.spec.schedule = TrainingSchedule(cron: "0 25 * * *")
        _ = try await env.client.create(tj)
        try await env.eventually("Invalid phase") { try await env.trainingJob("bad-cron").status?.phase == .invalid }
        let status = try await env.trainingJob("bad-cron").status
        let ready = try #require(Conditions.find(status?.conditions, type: ConditionType.ready))
        #expect(ready.status == "False" && ready.reason == "InvalidSpec")
        #expect(ready.message.contains("spec.schedule.cron"), "\(ready.message)")
        try await env.eventually("InvalidSpec Event") { try await !env.events(reason: "InvalidSpec").isEmpty }
        #expect(try await env.jobs(of: "bad-cron").isEmpty)
    }

    @Test func manualRequestAndAnnotationEachStartOneRunAndHistoryIsPruned() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        var tj = sampleTrainingJob("manual")
        tj.spec.schedule = TrainingSchedule(cron: "0 0 1 1 *")  // far away: only manual runs here
        var policy = RunPolicy()
        policy.successfulJobsHistoryLimit = 1
        policy.runHistoryLimit = 2
        tj.spec.runPolicy = policy
        _ = try await env.client.create(tj)
        try await env.eventually("waiting phase") { try await env.trainingJob("manual").status?.phase == .waiting }
        #expect(try await env.jobs(of: "manual").isEmpty)

        let request: JSONValue = ["status": ["requests": ["run": ["requestedAt": "2026-03-01T10:00:00.000Z", "requestedBy": "ana", "reason": "new labels"]]]]
        let _: TrainingJob = try await env.client.patch(TrainingJob.self, name: "manual", namespace: env.namespace, .merge(request), subresource: "status")
        try await env.waitForRun("manual", "manual-1")
        var status = try await env.trainingJob("manual").status
        #expect(status?.runs?.first?.trigger.type == .manual && status?.runs?.first?.trigger.requestedBy == "ana")
        #expect(status?.requests?.run == nil)
        try await env.finishJob("manual-1", exitCode: 0, message: trainerSummary())
        try await env.eventually("run 1 done") { try await env.trainingJob("manual").status?.runs?.first?.result == .succeeded }

        let _: TrainingJob = try await env.client.patch(TrainingJob.self, name: "manual", namespace: env.namespace,
                                                        .merge(.object(["metadata": .object(["annotations": .object([TrainingRuns.retrainAnnotation: "req-2"])])])))
        try await env.waitForRun("manual", "manual-2")
        try await env.eventually("annotation removed") {
            try await env.trainingJob("manual").metadata.annotations?[TrainingRuns.retrainAnnotation] == nil
        }
        try await env.finishJob("manual-2", exitCode: 0, message: trainerSummary(output: "file:///models/churn/v2/"))
        try await env.eventually("run 2 registered churn-v2") { try await env.trainingJob("manual").status?.latestModelVersion == "churn-v2" }
        // successfulJobsHistoryLimit 1: the first Job (and its ConfigMap) is deleted.
        try await env.eventually("old Job pruned") { try await env.jobs(of: "manual").compactMap(\.name) == ["manual-2"] }
        status = try await env.trainingJob("manual").status
        #expect(status?.runs?.map(\.name) == ["manual-2", "manual-1"])
        #expect(try await env.modelVersion("churn-v2").spec.lineage?.parentVersion == "churn-v1")
    }

    @Test func cronScheduleStartsRunsForbidWaitsAndDowntimeStartsTheLatest() async throws {
        let start = Date()
        let clock = TrainingClock(start)
        let env = try await TrainingEnvironment.start(clock: clock)
        defer { Task { await env.stop() } }
        var tj = sampleTrainingJob("nightly")
        var schedule = TrainingSchedule(cron: "*/10 * * * *")
        schedule.timeZone = "Europe/Paris"
        schedule.concurrencyPolicy = .forbid
        tj.spec.schedule = schedule
        _ = try await env.client.create(tj)
        try await env.eventually("next schedule time") { try await env.trainingJob("nightly").status?.nextScheduleTime != nil }
        let next = try #require(try await env.trainingJob("nightly").status?.nextScheduleTime.flatMap(KubeTime.parse))
        #expect(next > start && next.timeIntervalSince(start) <= 600)
        #expect(try await env.jobs(of: "nightly").isEmpty)

        clock.set(next.addingTimeInterval(5))
        try await env.poke("nightly")
        try await env.waitForRun("nightly", "nightly-1")
        var status = try await env.trainingJob("nightly").status
        #expect(status?.runs?.first?.trigger.type == .schedule)
        #expect(status?.runs?.first?.trigger.scheduledTime == KubeTime.format(next))
        #expect(status?.lastScheduleTime == KubeTime.format(next))

        // Forbid: the next time comes while run 1 is still running.
        clock.set(next.addingTimeInterval(605))
        try await env.poke("nightly")
        try await env.eventually("Forbid message") { try await env.trainingJob("nightly").status?.message?.contains("Forbid") == true }
        #expect(try await env.jobs(of: "nightly").count == 1)

        // Run 1 finishes: the time that waited under Forbid starts now (it is still unmet).
        try await env.finishJob("nightly-1", exitCode: 0, message: trainerSummary())
        try await env.waitForRun("nightly", "nightly-2")
        status = try await env.trainingJob("nightly").status
        #expect(status?.runs?.first?.trigger.scheduledTime == KubeTime.format(next.addingTimeInterval(600)))
        #expect(status?.latestModelVersion == "churn-v1")
        try await env.finishJob("nightly-2", exitCode: 0, message: trainerSummary(output: "file:///models/churn/v2/"))
        try await env.eventually("run 2 registered") { try await env.trainingJob("nightly").status?.latestModelVersion == "churn-v2" }

        // An hour of controller "downtime": of the five missed times only the latest starts.
        clock.set(next.addingTimeInterval(3600 + 5))
        try await env.poke("nightly")
        try await env.waitForRun("nightly", "nightly-3")
        status = try await env.trainingJob("nightly").status
        #expect(status?.runs?.first?.trigger.scheduledTime == KubeTime.format(next.addingTimeInterval(3600)))
        #expect(status?.lastScheduleTime == KubeTime.format(next.addingTimeInterval(3600)))
        #expect(try await env.jobs(of: "nightly").count == 3)
        try await env.eventually("MissedSchedules Event") { try await !env.events(reason: "MissedSchedules").isEmpty }
    }

    @Test func retrainConditionFiresOnceThenCoolsDown() async throws {
        let clock = TrainingClock()
        let values = TrainingQueryValues()
        let env = try await TrainingEnvironment.start(clock: clock, prometheus: "http://prometheus.invalid:9090", query: values.query)
        defer { Task { await env.stop() } }
        var tj = sampleTrainingJob("drifty")
        var retrain = RetrainPolicy(conditions: [RetrainCondition(name: "accuracy-drop", query: #"sextant_model_accuracy{model="{{ model }}",namespace="{{namespace}}"}"#, below: 0.8)])
        retrain.interval = "1m"
        retrain.cooldown = "1h"
        tj.spec.retrainOn = retrain
        let rendered = #"sextant_model_accuracy{model="churn",namespace="default"}"#
        values.set(rendered, .value(0.93))
        _ = try await env.client.create(tj)
        try await env.eventually("first check OK") { try await env.trainingJob("drifty").status?.retrainChecks?.first?.outcome == .ok }
        let check = try #require(try await env.trainingJob("drifty").status?.retrainChecks?.first)
        #expect(check.query == rendered && check.value == 0.93)
        #expect(try await env.jobs(of: "drifty").isEmpty)

        values.set(rendered, .value(0.61))
        clock.advance(61)
        try await env.poke("drifty")
        try await env.waitForRun("drifty", "drifty-1")
        let status = try await env.trainingJob("drifty").status
        let trigger = try #require(status?.runs?.first?.trigger)
        #expect(trigger.type == .retrainCondition && trigger.condition == "accuracy-drop" && trigger.value == 0.61)
        #expect(status?.lastRetrainTime != nil)
        try await env.finishJob("drifty-1", exitCode: 0, message: trainerSummary())
        try await env.eventually("run done") { try await env.trainingJob("drifty").status?.runs?.first?.result == .succeeded }

        // Still bad a few minutes later: cooling down, no second run.
        clock.advance(120)
        try await env.poke("drifty")
        try await env.eventually("cooling down") { try await env.trainingJob("drifty").status?.retrainChecks?.first?.outcome == .coolingDown }
        #expect(try await env.jobs(of: "drifty").count == 1)
        // After the cooldown it fires again.
        clock.advance(3600)
        try await env.poke("drifty")
        try await env.waitForRun("drifty", "drifty-2")
    }

    @Test func suspendPausesTheRunningJob() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(sampleTrainingJob("pausable"))
        try await env.waitForRun("pausable", "pausable-1")
        let _: TrainingJob = try await env.client.patch(TrainingJob.self, name: "pausable", namespace: env.namespace,
                                                        .merge(["spec": ["runPolicy": ["suspend": true]]]))
        try await env.eventually("Job suspended") { try await env.job("pausable-1").raw[path: ["spec", "suspend"]]?.boolValue == true }
        let _: TrainingJob = try await env.client.patch(TrainingJob.self, name: "pausable", namespace: env.namespace,
                                                        .merge(["spec": ["runPolicy": ["suspend": false]]]))
        try await env.eventually("Job resumed") { try await env.job("pausable-1").raw[path: ["spec", "suspend"]]?.boolValue == false }
        // Deleting the Job cancels the run.
        try await env.client.delete(TrainingEnvironment.jobResource, name: "pausable-1", namespace: env.namespace)
        try await env.eventually("run cancelled") { try await env.trainingJob("pausable").status?.runs?.last?.result == .cancelled }
    }
}
