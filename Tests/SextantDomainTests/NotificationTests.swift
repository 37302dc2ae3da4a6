import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

/// What is posted, under which identity, and what is left to post (issue 19, notifications).
@Suite struct NotificationTests {
    static func meta(_ name: String, _ namespace: String, uid: String) -> ObjectMeta {
        var m = ObjectMeta(name: name, namespace: namespace)
        m.uid = uid
        return m
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func rollout(history: [RolloutRecord], step: Int? = nil, weight: Int? = nil, failedChecks: Int? = nil,
                        canary: String? = nil, targets: [NotificationTarget] = []) -> CanaryRollout {
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 25, maxWeight: 50)))
        spec.notifications = targets
        var status = CanaryRolloutStatus()
        status.history = history
        status.currentStepIndex = step
        status.canaryWeight = weight
        status.failedChecks = failedChecks
        status.canaryVersion = canary
        status.stepStartTime = KubeTime.format(t0.addingTimeInterval(20))
        status.lastAnalysisTime = KubeTime.format(t0.addingTimeInterval(22))
        var failing = SextantAPI.Measurement(metric: "success-rate", outcome: .fail, time: KubeTime.format(t0))
        failing.value = 0.61
        failing.message = "not within [0.95, +inf)"
        status.measurements = [failing]
        return CanaryRollout(metadata: Self.meta("fraud", "ml", uid: "uid-1"), spec: spec, status: status)
    }

    static func record(_ version: String, stable: String?, start: Double, outcome: RolloutOutcome? = nil) -> RolloutRecord {
        var r = RolloutRecord(version: version, stableVersion: stable, startTime: KubeTime.format(t0.addingTimeInterval(start)))
        r.outcome = outcome
        if outcome != nil {
            r.endTime = KubeTime.format(t0.addingTimeInterval(start + 30))
            r.reason = outcome == .rolledBack ? "AnalysisFailed" : "Promoted"
            r.message = outcome == .rolledBack ? "success-rate 0.61 outside [0.95, +inf)" : nil
        }
        return r
    }

    @Test func aRunningRolloutNotifiesItsStartItsStepAndItsFailedAnalysis() {
        let r = Self.rollout(history: [Self.record("fraud-v1", stable: nil, start: -100, outcome: .promoted),
                                       Self.record("fraud-v2", stable: "fraud-v1", start: 0)],
                             step: 1, weight: 50, failedChecks: 1, canary: "fraud-v2")
        let n = RolloutNotifications.derive(r)
        #expect(n.map(\.event) == [.rolloutStarted, .promoted, .rolloutStarted, .stepAdvanced, .analysisFailed])
        // Same identity as the transition Event of the same transition.
        #expect(n[2].id == RolloutHistory.eventName(rollout: "fraud", uid: "uid-1", version: "fraud-v2",
                                                    startTime: KubeTime.format(Self.t0), reason: "RolloutStarted"))
        #expect(n[3].title == "fraud: step 2/2, fraud-v2 at 50%")
        #expect(n[3].time == Self.t0.addingTimeInterval(20))
        #expect(n[4].text.contains("success-rate = 0.61"), "\(n[4].text)")
        #expect(n[4].facts.contains(.init("Failed checks", "1/5")))
        #expect(Set(n.map(\.id)).count == n.count, "distinct ids")
        // Derived again (another process): the same ids.
        #expect(RolloutNotifications.derive(r).map(\.id) == n.map(\.id))
        // The next step and the next failed run are new transitions.
        let later = RolloutNotifications.derive(Self.rollout(history: r.status?.history ?? [], step: 2, weight: 50, failedChecks: 2,
                                                             canary: "fraud-v2"))
        #expect(later[3].id != n[3].id && later[4].id != n[4].id)
        #expect(later[0].id == n[0].id && later[2].id == n[2].id)
    }

    @Test func anEndedRolloutNotifiesItsOutcomeOnly() {
        let r = Self.rollout(history: [Self.record("fraud-v2", stable: "fraud-v1", start: 0, outcome: .rolledBack)],
                             step: 1, failedChecks: 2, canary: "fraud-v2")
        let n = RolloutNotifications.derive(r)
        #expect(n.map(\.event) == [.rolloutStarted, .rolledBack])
        #expect(n[1].isWarning && n[1].text == "success-rate 0.61 outside [0.95, +inf)")
        #expect(n[1].time == Self.t0.addingTimeInterval(30))
    }

    @Test func pendingSkipsWhatWasRecordedWhatATargetDoesNotWantAndOldTransitions() {
        let r = Self.rollout(history: [Self.record("fraud-v2", stable: "fraud-v1", start: 0, outcome: .promoted)])
        let n = RolloutNotifications.derive(r)
        var slack = NotificationTarget(name: "slack", provider: .slack, secretRef: NotificationSecretRef(name: "s"))
        slack.events = [.promoted, .rolledBack]
        let hook = NotificationTarget(name: "hook", provider: .webhook, url: "http://h/x")
        let sent = NotificationRecord(id: n[0].id, target: "hook", event: .rolloutStarted, time: "", result: .sent)
        let now = Self.t0.addingTimeInterval(60)
        let pending = NotificationPolicy.pending(n, targets: [slack, hook], records: [sent], now: now)
        #expect(pending.map { "\($0.1.name):\($0.0.event.rawValue)" } == ["slack:Promoted", "hook:Promoted"])
        // A failed delivery is recorded too: it is not tried again (the Warning Event says so).
        let failed = NotificationRecord(id: n[1].id, target: "slack", event: .promoted, time: "", result: .failed)
        #expect(NotificationPolicy.pending(n, targets: [slack, hook], records: [sent, failed], now: now).count == 1)
        // An hour later nothing is replayed.
        #expect(NotificationPolicy.pending(n, targets: [slack, hook], records: [], now: Self.t0.addingTimeInterval(3700)).isEmpty)
    }

    @Test func recordsAreBoundedAndReplaced() {
        var list: [NotificationRecord] = []
        for i in 0..<(NotificationRecord.limit + 10) {
            list = NotificationPolicy.appending(NotificationRecord(id: "n\(i)", target: "t", event: .promoted, time: "", result: .sent), to: list)
        }
        #expect(list.count == NotificationRecord.limit)
        #expect(list.first?.id == "n10" && list.last?.id == "n\(NotificationRecord.limit + 9)")
        list = NotificationPolicy.appending(NotificationRecord(id: "n20", target: "t", event: .promoted, time: "", result: .failed), to: list)
        #expect(list.count == NotificationRecord.limit && list.filter { $0.id == "n20" }.count == 1 && list.last?.result == .failed)
    }

    @Test func trainingRunsNotifyStartRetrainAndOutcome() {
        var spec = TrainingJobSpec(modelName: "churn", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                   output: OutputSpec(uri: "file:///o"))
        spec.notifications = [NotificationTarget(name: "hook", provider: .webhook, url: "http://h/x")]
        var status = TrainingJobStatus()
        var manual = TrainingRun(name: "churn-1", trigger: RunTrigger(type: .manual), result: .succeeded)
        manual.startTime = KubeTime.format(Self.t0)
        manual.completionTime = KubeTime.format(Self.t0.addingTimeInterval(10))
        manual.modelVersion = "churn-v1"
        var retrainTrigger = RunTrigger(type: .retrainCondition)
        retrainTrigger.condition = "accuracy-drop"
        retrainTrigger.value = 0.61
        var retrain = TrainingRun(name: "churn-2", trigger: retrainTrigger, result: .gateFailed)
        retrain.startTime = KubeTime.format(Self.t0.addingTimeInterval(100))
        retrain.message = "performance.aucRoc: value 0.61, threshold 0.7"
        var broken = TrainingRun(name: "churn-3", trigger: RunTrigger(type: .schedule), result: .failed)
        broken.startTime = KubeTime.format(Self.t0.addingTimeInterval(200))
        broken.reason = "OOMKilled"
        status.runs = [broken, retrain, manual]  // newest first
        let job = TrainingJob(metadata: Self.meta("churn", "ml", uid: "uid-2"), spec: spec, status: status)
        let n = TrainingNotifications.derive(job)
        #expect(n.map(\.event) == [.trainingStarted, .trainingSucceeded, .retrainTriggered, .gateFailed, .trainingStarted, .trainingFailed])
        #expect(n[1].facts.contains(.init("ModelVersion", "churn-v1")))
        #expect(n[2].title == "churn: retrain triggered by accuracy-drop" && n[2].text.contains("0.61"))
        #expect(n[3].text == "performance.aucRoc: value 0.61, threshold 0.7" && n[3].isWarning)
        #expect(n[5].text == "OOMKilled")
        #expect(Set(n.map(\.id)).count == n.count)
        #expect(n[0].id.hasPrefix("churn.trainingstarted."))
        #expect(TrainingNotifications.derive(job).map(\.id) == n.map(\.id))
    }
}
