import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

private func at(_ seconds: TimeInterval) -> Date { Date(timeIntervalSince1970: 1_780_000_000 + seconds) }

@Suite struct TrainingRetrainTests {
    let drift = RetrainCondition(name: "drift", query: "max(psi)", above: 0.2)
    let accuracy = RetrainCondition(name: "accuracy", query: "acc", below: 0.8)

    func run(_ obs: [String: RetrainObservation], previous: [RetrainCheck] = [], forSeconds: [String: TimeInterval] = [:],
             last: Date? = nil, cooldown: TimeInterval = 3600, active: Bool = false, now: Date) -> RetrainEvaluation {
        RetrainTrigger.evaluate(conditions: [drift, accuracy], forSeconds: forSeconds,
                                queries: ["drift": "max(psi)", "accuracy": "acc"], observations: obs, previous: previous,
                                lastRetrainTime: last, cooldown: cooldown, runActive: active, now: now)
    }

    @Test func aboveAndBelow() {
        #expect(RetrainTrigger.holds(0.3, above: 0.2, below: nil))
        #expect(!RetrainTrigger.holds(0.2, above: 0.2, below: nil))
        #expect(RetrainTrigger.holds(0.7, above: nil, below: 0.8))
        #expect(!RetrainTrigger.holds(0.8, above: nil, below: 0.8))
        #expect(RetrainTrigger.holds(5, above: 1, below: 0))
        #expect(!RetrainTrigger.holds(0.5, above: 1, below: 0))
    }

    @Test func firesImmediatelyWithoutFor() {
        let e = run(["drift": .value(0.31), "accuracy": .value(0.9)], now: at(0))
        #expect(e.fired?.condition == "drift" && e.fired?.value == 0.31)
        #expect(e.checks.map(\.outcome) == [.fired, .ok])
        #expect(e.checks[0].query == "max(psi)" && e.checks[0].value == 0.31)
        #expect(e.checks[0].message?.contains("0.31 > 0.2") == true)
    }

    @Test func forIsTrackedAcrossRoundsBySince() {
        let first = run(["drift": .value(0.3), "accuracy": .value(0.9)], forSeconds: ["drift": 900], now: at(0))
        #expect(first.fired == nil && first.checks[0].outcome == .holding)
        #expect(first.checks[0].since == KubeTime.format(at(0)))
        let second = run(["drift": .value(0.4), "accuracy": .value(0.9)], previous: first.checks, forSeconds: ["drift": 900], now: at(600))
        #expect(second.fired == nil && second.checks[0].since == KubeTime.format(at(0)))
        let third = run(["drift": .value(0.4), "accuracy": .value(0.9)], previous: second.checks, forSeconds: ["drift": 900], now: at(900))
        #expect(third.fired?.condition == "drift")
        // Dropping back below resets the wait.
        let reset = run(["drift": .value(0.1), "accuracy": .value(0.9)], previous: second.checks, forSeconds: ["drift": 900], now: at(900))
        #expect(reset.fired == nil && reset.checks[0].since == nil && reset.checks[0].outcome == .ok)
    }

    @Test func noDataResetsErrorKeepsButNeverFires() {
        let holding = run(["drift": .value(0.3)], forSeconds: ["drift": 900], now: at(0))
        let noData = run(["drift": .noData], previous: holding.checks, forSeconds: ["drift": 900], now: at(300))
        #expect(noData.checks[0].outcome == .noData && noData.checks[0].since == nil && noData.fired == nil)
        let error = run(["drift": .error("connection refused")], previous: holding.checks, forSeconds: ["drift": 900], now: at(1000))
        #expect(error.checks[0].outcome == .error && error.checks[0].since == KubeTime.format(at(0)) && error.fired == nil)
        #expect(error.checks[0].message == "connection refused")
        // After the error the wait continues from the original since.
        let back = run(["drift": .value(0.3)], previous: error.checks, forSeconds: ["drift": 900], now: at(1100))
        #expect(back.fired?.condition == "drift")
    }

    @Test func cooldownFromLastRetrain() {
        let cooling = run(["drift": .value(0.3)], last: at(0), cooldown: 3600, now: at(1800))
        #expect(cooling.fired == nil && cooling.checks[0].outcome == .coolingDown)
        #expect(cooling.checks[0].message?.contains("1800s") == true)
        let done = run(["drift": .value(0.3)], last: at(0), cooldown: 3600, now: at(3600))
        #expect(done.fired?.condition == "drift")
    }

    @Test func activeRunAndSecondConditionDoNotFire() {
        let busy = run(["drift": .value(0.3), "accuracy": .value(0.5)], active: true, now: at(0))
        #expect(busy.fired == nil && busy.checks.map(\.outcome) == [.holding, .holding])
        let both = run(["drift": .value(0.3), "accuracy": .value(0.5)], now: at(0))
        #expect(both.fired?.condition == "drift" && both.checks.map(\.outcome) == [.fired, .holding])
    }

    @Test func nextCheckFromStatus() {
        let checks = [RetrainCheck(name: "drift", outcome: .ok, time: KubeTime.format(at(100)))]
        #expect(RetrainTrigger.nextCheck(previous: checks, interval: 300, now: at(150)) == at(400))
        #expect(RetrainTrigger.nextCheck(previous: [], interval: 300, now: at(150)) == at(150))
    }
}

@Suite struct TrainingTemplateTests {
    @Test func rendersWithOrWithoutSpaces() throws {
        let vars = ["model": "churn", "namespace": "ml", "name": "churn-nightly"]
        #expect(try PromQLTemplate.render(#"acc{model="{{ model }}",ns="{{namespace}}",job="{{  name}}"}"#, variables: vars)
                == #"acc{model="churn",ns="ml",job="churn-nightly"}"#)
        #expect(try PromQLTemplate.render("up", variables: [:]) == "up")
    }

    @Test func unknownVariableIsNamed() {
        let error = #expect(throws: PromQLTemplate.UnknownVariable.self) {
            try PromQLTemplate.render("x{m=\"{{ modle }}\"}", variables: ["model": "a"])
        }
        #expect(error?.name == "modle")
        #expect(error?.description.contains("model") == true)
        #expect(throws: PromQLTemplate.Unterminated.self) { try PromQLTemplate.render("x{{ model", variables: ["model": "a"]) }
    }
}

@Suite struct TrainingRunBookkeepingTests {
    @Test func namesAndOutputURI() {
        #expect(TrainingRuns.runName(trainingJob: "fraud", count: 3) == "fraud-3")
        let long = String(repeating: "a", count: 70)
        #expect(TrainingRuns.runName(trainingJob: long, count: 12).count == 63)
        #expect(TrainingRuns.outputURI(base: "s3://models/", model: "fraud", version: 4) == "s3://models/fraud/v4/")
        #expect(TrainingRuns.outputURI(base: "file:///m", model: "fraud", version: 4) == "file:///m/fraud/v4/")
    }

    @Test func manualRequestActedOnOnce() {
        let req = ManualRequest(requestedAt: "2026-03-01T10:00:00.123Z", requestedBy: "ana", reason: "new labels")
        let first = TrainingRuns.manualTrigger(request: req, annotation: nil, history: [])
        #expect(first?.0.type == .manual && first?.0.requestedBy == "ana" && first?.requestedAt == req.requestedAt)
        var run = TrainingRun(name: "tj-1", trigger: first!.0)
        run.result = .succeeded
        #expect(TrainingRuns.manualTrigger(request: req, annotation: nil, history: [run]) == nil)
        let anno = TrainingRuns.manualTrigger(request: nil, annotation: "now-1", history: [run])
        #expect(anno?.requestedAt == "now-1")
        #expect(TrainingRuns.manualTrigger(request: nil, annotation: "", history: []) == nil)
    }

    @Test func oneShotTriggers() {
        let spec = TrainingJobSpec(modelName: "m", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                   output: OutputSpec(uri: "file:///o"))
        #expect(TrainingRuns.oneShotTrigger(spec: spec, generation: 1, status: nil)?.type == .created)
        var status = TrainingJobStatus()
        status.runCount = 1
        status.observedGeneration = 1
        #expect(TrainingRuns.oneShotTrigger(spec: spec, generation: 1, status: status) == nil)
        #expect(TrainingRuns.oneShotTrigger(spec: spec, generation: 2, status: status)?.type == .specChanged)
        var scheduled = spec
        scheduled.schedule = TrainingSchedule(cron: "@daily")
        #expect(TrainingRuns.oneShotTrigger(spec: scheduled, generation: 1, status: nil) == nil)
    }

    @Test func historyKeepsRunningAndNewest() {
        var runs: [TrainingRun] = []
        for i in 1...5 {
            var r = TrainingRun(name: "r\(i)", trigger: RunTrigger(type: .schedule))
            r.result = i == 1 ? .running : .succeeded
            runs = TrainingRuns.record(r, in: runs, limit: 3)
        }
        #expect(runs.map(\.name) == ["r5", "r4", "r1"])
        var updated = TrainingRun(name: "r1", trigger: RunTrigger(type: .schedule))
        updated.result = .failed
        runs = TrainingRuns.record(updated, in: runs, limit: 3)
        #expect(runs.map(\.name) == ["r5", "r4", "r1"] && runs[2].result == .failed)
    }

    @Test func jobHistoryLimits() {
        let finished = [("j6", true), ("j5", false), ("j4", true), ("j3", true), ("j2", false), ("j1", true)]
            .map { (job: $0.0, succeeded: $0.1) }
        #expect(TrainingRuns.jobsToDelete(finished: finished, successfulLimit: 2, failedLimit: 1) == ["j1", "j2", "j3"])
        #expect(TrainingRuns.jobsToDelete(finished: finished, successfulLimit: 0, failedLimit: 0) == ["j1", "j2", "j3", "j4", "j5", "j6"])
    }
}

@Suite struct TrainingOutcomeTests {
    let success = #"{"status":"Succeeded","modelName":"fraud","trainerVersion":"0.1.0","artifact":{"uri":"file:///o/fraud/v1/model.json","sha256":"ab","size":812},"data":{"uri":"file:///d.csv","version":"v1","sha256":"cd","rows":1000},"algorithm":"gradientBoosting","hyperparameters":{"nEstimators":20},"metrics":{"aucRoc":0.93,"f1":0.8},"gates":[{"name":"performance.aucRoc","passed":true,"value":0.93,"threshold":0.9,"message":"aucRoc=0.9300 >= 0.9"}],"durationSeconds":1.5}"#
    let gateFailed = #"{"status":"GateFailed","reason":"GateFailed","message":"gate performance.aucRoc failed","gates":[{"name":"performance.aucRoc","passed":false,"value":0.71,"threshold":0.9},{"name":"fairness.gender","passed":true,"value":0.01,"threshold":0.1}]}"#

    @Test func succeededReadsTheSummary() throws {
        let o = try #require(TrainingOutcome.classify(JobObservation(complete: true, terminations: [ContainerTermination(exitCode: 0, message: success)])))
        #expect(o.result == .succeeded)
        let s = try #require(o.summary)
        #expect(s.artifact?.sha256 == "ab" && s.artifact?.size == 812 && s.data?.rows == 1000 && s.metrics?["aucRoc"] == 0.93)
        let gates = try #require(s.gateSummary)
        #expect(gates.passed && gates.results?.first?.gate == .performance && gates.results?.first?.checks?.first?.name == "aucRoc")
    }

    @Test func gateFailureNamesGateValueAndThreshold() throws {
        let o = try #require(TrainingOutcome.classify(JobObservation(failed: true, failureReason: "BackoffLimitExceeded",
                                                                     terminations: [ContainerTermination(exitCode: 3, message: gateFailed)])))
        #expect(o.result == .gateFailed && o.reason == "GateFailed")
        #expect(o.message == "performance.aucRoc: value 0.71, threshold 0.9")
        #expect(o.summary?.gateSummary?.passed == false)
    }

    @Test func badInputOOMDeadlineAndCrash() throws {
        let bad = #"{"status":"Failed","reason":"BadInput","message":"data: line 3: column 'x1': non-numeric value 'zz'"}"#
        let o1 = try #require(TrainingOutcome.classify(JobObservation(failed: true, terminations: [ContainerTermination(exitCode: 2, message: bad)])))
        #expect(o1.result == .invalidInput && o1.reason == "BadInput" && o1.message.contains("line 3"))
        let o2 = try #require(TrainingOutcome.classify(JobObservation(failed: true, failureReason: "BackoffLimitExceeded",
                                                                      terminations: [ContainerTermination(exitCode: 137, reason: "OOMKilled")])))
        #expect(o2.result == .failed && o2.reason == "OOMKilled")
        let o3 = try #require(TrainingOutcome.classify(JobObservation(failed: true, failureReason: "DeadlineExceeded",
                                                                      failureMessage: "Job was active longer than specified deadline")))
        #expect(o3.result == .failed && o3.reason == "DeadlineExceeded")
        // A crash leaves log lines, not JSON: recorded as the message, never a decoding failure.
        let o4 = try #require(TrainingOutcome.classify(JobObservation(failed: true, failureReason: "BackoffLimitExceeded",
                                                                      terminations: [ContainerTermination(exitCode: 139, message: "Fatal error: boom\n")])))
        #expect(o4.result == .failed && o4.reason == "BackoffLimitExceeded" && o4.message.contains("exit code 139: Fatal error: boom"))
        // Truncated JSON is not a summary either.
        let o5 = try #require(TrainingOutcome.classify(JobObservation(failed: true, terminations: [ContainerTermination(exitCode: 2, message: String(bad.prefix(40)))])))
        #expect(o5.result == .invalidInput && o5.summary == nil)
        let o6 = try #require(TrainingOutcome.classify(JobObservation(complete: true, terminations: [ContainerTermination(exitCode: 0, message: "{\"sta")])))
        #expect(o6.result == .failed && o6.reason == "NoResultSummary")
        #expect(TrainingOutcome.classify(JobObservation()) == nil)
    }
}
