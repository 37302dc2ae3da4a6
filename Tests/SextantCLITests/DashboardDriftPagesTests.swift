import Foundation
import SextantAPI
import SextantDashboard
import SextantKubeTypes
import Testing

/// The Drift pages' bodies (pure): live versions, thresholds from the rollout's analysis and the
/// model's retrain conditions, one chart per feature and statistic, and the message without Prometheus.
@Suite struct DashboardDriftPagesTests {
    static func rollout() -> CanaryRollout {
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10, maxWeight: 50)))
        var analysis = AnalysisSpec()
        analysis.metrics = [AnalysisMetric(name: "success-rate", template: .successRate, thresholdRange: ThresholdRange(min: 0.95)),
                            AnalysisMetric(name: "feature-psi", query: #"max(sextant_feature_psi{version="{{ canary }}"})"#,
                                           thresholdRange: ThresholdRange(max: 0.25))]
        spec.analysis = analysis
        var status = CanaryRolloutStatus()
        status.stableVersion = "fraud-v1"
        status.canaryVersion = "fraud-v2"
        return CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec, status: status)
    }

    static func retrainJob() -> TrainingJob {
        var tj = TrainingJob(metadata: ObjectMeta(name: "fraud-train", namespace: "ml"),
                             spec: TrainingJobSpec(modelName: "fraud", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                                   output: OutputSpec(uri: "file:///m/")))
        tj.spec.retrainOn = RetrainPolicy(conditions: [RetrainCondition(name: "ks", query: #"max(sextant_feature_ks{model="{{ model }}"})"#, above: 0.3)])
        return tj
    }

    @Test func thresholdsComeFromTheAnalysisAndTheRetrainConditions() {
        let psi = DriftPages.thresholds(for: .psi, rollout: Self.rollout(), jobs: [Self.retrainJob()])
        #expect(psi.map(\.max) == [0.25] && psi.first?.source == "CanaryRollout fraud, metric feature-psi")
        let ks = DriftPages.thresholds(for: .ks, rollout: Self.rollout(), jobs: [Self.retrainJob()])
        #expect(ks.map(\.max) == [0.3] && ks.first?.source == "TrainingJob fraud-train, retrain condition ks")
        var other = Self.retrainJob()
        other.spec.modelName = "churn"
        #expect(DriftPages.thresholds(for: .ks, rollout: Self.rollout(), jobs: [other]).isEmpty, "another model's condition")
    }

    @Test func detailDrawsOneChartPerFeatureAndStatisticWithTheThreshold() {
        let points = (0..<5).map { MetricChart.Point(time: 1_000 + Double($0) * 30, value: 0.1 + Double($0) / 100) }
        let series = [DriftPages.Series(statistic: .psi, feature: "amount", version: "fraud-v1", points: points),
                      DriftPages.Series(statistic: .psi, feature: "amount", version: "fraud-v2", points: Array(points.prefix(3))),
                      DriftPages.Series(statistic: .ks, feature: "amount", version: "fraud-v1", points: points),
                      DriftPages.Series(statistic: .psi, feature: "country", version: "fraud-v2", points: points)]
        let html = DriftPages.detail(Self.rollout(), jobs: [Self.retrainJob()], series: series, errors: [], window: "60 minutes")
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        #expect(html.contains("data-feature=\"amount\" data-statistic=\"PSI\""))
        #expect(html.contains("class=\"second\" data-points=\"3\""), "the canary dashed next to the stable")
        #expect(html.components(separatedBy: "class=\"threshold\"").count - 1 == 3)
        #expect(html.contains("threshold from TrainingJob fraud-train, retrain condition ks"))
    }

    @Test func withoutPrometheusThePagesSayWhatIsNeeded() {
        let detail = DriftPages.detail(Self.rollout(), jobs: [], series: nil, errors: [], window: "60 minutes")
        #expect(detail.contains("--prometheus-url") && !detail.contains("<svg"))
        #expect(detail.contains("fraud-v1") && detail.contains("fraud-v2"))
        let list = DriftPages.list([Self.rollout()], namespace: "ml", selector: nil, next: nil, prometheus: false)
        #expect(list.contains("id=\"needs-prometheus\"") && list.contains("href=\"/drift/ml/fraud\""))
        #expect(!DriftPages.list([Self.rollout()], namespace: "ml", selector: nil, next: nil, prometheus: true).contains("needs-prometheus"))
    }

    @Test func aRolledBackCanaryIsNotLive() {
        var rollout = Self.rollout()
        #expect(DriftPages.liveVersions(rollout).map(\.name) == ["fraud-v1", "fraud-v2"])
        rollout.status?.phase = .rolledBack
        #expect(DriftPages.liveVersions(rollout).map(\.name) == ["fraud-v1"])
    }
}
