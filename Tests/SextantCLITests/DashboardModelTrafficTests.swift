import Foundation
import SextantAPI
import SextantDashboard
import SextantKubeTypes
import SextantPrometheus
import SextantTestSupport
import Testing

/// A version's traffic periods (pure), derived from the rollouts' `status.history`: promoted,
/// rolled back, the current canary with its live weight, the current stable, and a history longer
/// than the kept records.
@Suite struct DashboardModelTrafficTests {
    static func version(_ name: String, namespace: String = "ml") -> ModelVersion {
        ModelVersion(metadata: ObjectMeta(name: name, namespace: namespace),
                     spec: ModelVersionSpec(modelName: "fraud", version: 1, artifact: ModelArtifact(uri: "file:///m/")))
    }

    static func record(_ version: String, from stable: String?, _ start: String, _ outcome: RolloutOutcome? = nil,
                       end: String? = nil, reason: String? = nil) -> RolloutRecord {
        var r = RolloutRecord(version: version, stableVersion: stable, startTime: "2026-12-06T\(start)Z")
        r.outcome = outcome
        r.endTime = end.map { "2026-12-06T\($0)Z" }
        r.reason = reason
        return r
    }

    static func rollout(_ history: [RolloutRecord], stable: String?, canary: String? = nil, weight: Int? = nil,
                        name: String = "fraud", namespace: String = "ml") -> CanaryRollout {
        var status = CanaryRolloutStatus()
        status.history = history
        status.stableVersion = stable
        status.canaryVersion = canary
        status.canaryWeight = weight
        var meta = ObjectMeta(name: name, namespace: namespace)
        meta.creationTimestamp = "2026-12-06T09:59:00Z"
        return CanaryRollout(metadata: meta, spec: CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10, maxWeight: 50))),
                             status: status)
    }

    /// v1 first, v2 promoted, v3 rolled back, v4 the current canary at 30 %.
    static let history = [
        record("v1", from: nil, "10:00:00", .promoted, end: "10:01:00"),
        record("v2", from: "v1", "11:00:00", .promoted, end: "11:30:00"),
        record("v3", from: "v2", "12:00:00", .rolledBack, end: "12:10:00", reason: "AnalysisFailed"),
        record("v4", from: "v2", "13:00:00"),
    ]

    @Test func promotedVersionIsCanaryThenStableUntilTheNextPromotion() {
        let t = ModelTraffic.of(Self.version("v1"), rollouts: [Self.rollout(Self.history, stable: "v2", canary: "v4", weight: 30)])
        #expect(t.earlierHistoryNotKept.isEmpty)
        let stable = t.periods.filter { $0.role == .stable }
        #expect(stable.count == 1)
        #expect(stable.first?.start == "2026-12-06T10:01:00Z" && stable.first?.end == "2026-12-06T11:30:00Z")
        #expect(stable.first?.live == false && stable.first?.note == "until v2 was promoted")
        let canary = t.periods.filter { $0.role == .canary }
        #expect(canary.map(\.outcome) == ["Promoted"] && canary.first?.weight == "100%", "the first version has nothing to split with")
        let baseline = t.periods.filter { $0.role == .baseline }
        #expect(baseline.map(\.note) == ["stable while v2 was canary"] && baseline.first?.end == "2026-12-06T11:30:00Z")
        #expect(t.periods.map(\.role) == [.baseline, .stable, .canary], "newest start first")
    }

    @Test func rolledBackVersionServedOnlyAsCanary() {
        let t = ModelTraffic.of(Self.version("v3"), rollouts: [Self.rollout(Self.history, stable: "v2", canary: "v4", weight: 30)])
        #expect(t.periods.count == 1)
        let p = t.periods.first
        #expect(p?.role == .canary && p?.outcome == "RolledBack" && p?.live == false)
        #expect(p?.start == "2026-12-06T12:00:00Z" && p?.end == "2026-12-06T12:10:00Z")
        #expect(p?.note == "against stable v2 · AnalysisFailed")
    }

    @Test func currentCanaryShowsTheLiveWeight() {
        let t = ModelTraffic.of(Self.version("v4"), rollouts: [Self.rollout(Self.history, stable: "v2", canary: "v4", weight: 30)])
        #expect(t.periods.count == 1)
        #expect(t.periods.first?.live == true && t.periods.first?.weight == "30%" && t.periods.first?.end == nil)
        #expect(t.periods.first?.outcome == "Running")
    }

    @Test func currentStableServesTheRestNow() {
        let t = ModelTraffic.of(Self.version("v2"), rollouts: [Self.rollout(Self.history, stable: "v2", canary: "v4", weight: 30)])
        let stable = t.periods.filter { $0.role == .stable }
        #expect(stable.count == 1)
        #expect(stable.first?.start == "2026-12-06T11:30:00Z" && stable.first?.end == nil && stable.first?.live == true)
        #expect(stable.first?.weight == "70%")
        // Baseline of v3 (closed) and of v4 (live, 100 − 30).
        let baseline = t.periods.filter { $0.role == .baseline }
        #expect(baseline.map(\.weight) == ["70%", "100% − canary"])
        #expect(baseline.map(\.outcome) == ["Running", "RolledBack"])
        #expect(t.periods.filter { $0.role == .canary }.map(\.outcome) == ["Promoted"])
    }

    @Test func aHistoryLongerThanTheKeptRecordsSaysSo() {
        // The oldest kept record starts from a stable version: records before it were dropped.
        var kept = (0..<RolloutRecord.limit).map { i in
            Self.record("w\(i)", from: "v1", String(format: "%02d:00:00", 10 + i), .rolledBack, end: String(format: "%02d:30:00", 10 + i))
        }
        kept[RolloutRecord.limit - 1].outcome = .promoted
        let rollout = Self.rollout(kept, stable: "w9")
        let t = ModelTraffic.of(Self.version("v1"), rollouts: [rollout])
        #expect(t.earlierHistoryNotKept == ["fraud"])
        let stable = t.periods.filter { $0.role == .stable }
        #expect(stable.count == 1 && stable.first?.start == nil, "v1's promotion is older than the kept records")
        #expect(stable.first?.end == "2026-12-06T19:30:00Z" && stable.first?.note == "until w9 was promoted")
        #expect(t.periods.last?.role == .stable, "an unknown start sorts oldest")
        let html = ModelPages.version(Self.version("v1"), csrf: "t", traffic: .success(t))
        #expect(html.contains("earlier history not kept") && html.contains("id=\"traffic-truncated\""))
        // A complete history (first version's record kept) has a known start: the rollout's creation.
        let full = ModelTraffic.of(Self.version("v1"), rollouts: [Self.rollout([Self.record("v1", from: nil, "10:00:00")], stable: nil, canary: "v1")])
        #expect(full.earlierHistoryNotKept.isEmpty)
    }

    @Test func otherNamespacesAndUnrelatedRolloutsAreLeftOut() {
        let other = Self.rollout(Self.history, stable: "v2", name: "fraud", namespace: "team-b")
        let unrelated = Self.rollout([Self.record("x1", from: nil, "10:00:00", .promoted, end: "10:01:00")], stable: "x1", name: "churn")
        #expect(ModelTraffic.of(Self.version("v3"), rollouts: [other, unrelated]).periods.isEmpty)
        let html = ModelPages.version(Self.version("v3"), csrf: "t", traffic: .success(ModelTraffic.of(Self.version("v3"), rollouts: [])))
        #expect(html.contains("Not in the history of any CanaryRollout"))
        let denied = ModelPages.version(Self.version("v3"), csrf: "t", traffic: .failure(TrafficUnavailable("CanaryRollouts: Error from server (Forbidden): no")))
        #expect(denied.contains("id=\"traffic-error\"") && denied.contains("Error from server (Forbidden)"))
    }

    @Test func pageRendersThePeriodsWithLinks() {
        let t = ModelTraffic.of(Self.version("v2"), rollouts: [Self.rollout(Self.history, stable: "v2", canary: "v4", weight: 30)])
        let html = ModelPages.version(Self.version("v2"), csrf: "t", traffic: .success(t))
        #expect(html.contains("<h2>Traffic</h2>") && html.contains("href=\"/rollouts/ml/fraud\""))
        #expect(html.contains("70% now") && html.contains(">now<"))
    }

    @Test func weightChartsOnlyWithPrometheus() {
        let t = ModelTraffic.of(Self.version("v2"), rollouts: [Self.rollout(Self.history, stable: "v2", canary: "v4", weight: 30)])
        let without = ModelPages.version(Self.version("v2"), csrf: "t", traffic: .success(t))
        #expect(without.contains("id=\"traffic-needs-prometheus\"") && !without.contains("<svg"))
        let points = [MetricChart.Point(time: 1000, value: 0), MetricChart.Point(time: 1060, value: 25), MetricChart.Point(time: 1120, value: 30)]
        let with = ModelPages.version(Self.version("v2"), csrf: "t", traffic: .success(t),
                                      weights: [.init(rollout: "fraud", points: points), .init(rollout: "churn", points: points)])
        #expect(with.contains("data-rollout=\"fraud\"") && with.contains("data-points=\"3\""))
        #expect(!with.contains("data-rollout=\"churn\""), "a rollout the version never served in")
        let noSamples = ModelPages.version(Self.version("v2"), csrf: "t", traffic: .success(t), weights: [.init(rollout: "fraud", points: [])])
        #expect(noSamples.contains("Prometheus has no samples") && !noSamples.contains("<svg"))
        #expect(ModelTraffic.weightQuery(namespace: "ml", rollout: "a\"b", range: 600, step: 5)
                == #"max(sextant_rollout_canary_weight{namespace="ml",rollout="a\"b"})[600s:5s]"#)
    }

    /// The gauge the chart reads is the one the controller sets (its registration, as
    /// hack/check-monitoring.py reads it).
    @Test func weightGaugeIsTheControllers() throws {
        let reconciler = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/SextantControllers/CanaryRolloutReconciler.swift")
        let source = try String(contentsOf: reconciler, encoding: .utf8)
        #expect(source.contains("Gauge(label: \"\(ModelTraffic.weightGauge)\", dimensions: [")
                && source.contains("(\"namespace\", rollout.metadata.namespace") && source.contains("(\"rollout\", rollout.metadata.name"))
    }

    /// The weight query against a real Prometheus (Debian's) scraping the gauge of two rollouts:
    /// the chart gets the series of its rollout only.
    @Test func canaryWeightsFromARealPrometheus() async throws {
        guard try Tooling.available("prometheus (Debian package prometheus)", PrometheusServer.isInstalled),
              try Tooling.available("python3", Tooling.find("python3") != nil), let python = Tooling.find("python3") else { return }
        let dir = try TemporaryDirectory()
        try """
            # TYPE sextant_rollout_canary_weight gauge
            sextant_rollout_canary_weight{namespace="ml",rollout="fraud"} 25
            sextant_rollout_canary_weight{namespace="ml",rollout="churn"} 50
            sextant_rollout_canary_weight{namespace="team-b",rollout="fraud"} 75

            """.write(toFile: dir.file("metrics"), atomically: true, encoding: .utf8)
        let port = try LocalHTTP.freePort()
        let exporter = try TestProcess(python, ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", dir.path])
        defer { exporter.stop() }
        let prometheus = try await PrometheusServer.start(scrapeTargets: ["127.0.0.1:\(port)"])
        defer { prometheus.stop() }
        try await prometheus.waitForTargetsUp(timeout: .seconds(60))
        var rollout = Self.rollout(Self.history, stable: "v2")
        rollout.metadata.creationTimestamp = KubeTime.format(Date().addingTimeInterval(-120))
        let client = try PrometheusClient(address: prometheus.address)
        var series: [ModelTraffic.WeightSeries] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            series = await ClusterSource.canaryWeights([rollout], prometheus: client, now: Date())
            if series.first?.points.isEmpty == false { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(series.map(\.rollout) == ["fraud"] && series.first?.error == nil, "\(series)")
        let values = Set(series.first?.points.map(\.value) ?? [])
        #expect(values == [25], "only ml/fraud's series: \(values)")
    }
}
