import Foundation
import SextantAPI
import SextantDashboard
import SextantKubeTypes
import Testing

/// The Training pages' bodies (pure): the list's last run and progress, the job's runs linking to
/// their pages, a run's curve drawn with one point per recorded round.
@Suite struct DashboardTrainingPagesTests {
    static func job() -> TrainingJob {
        var tj = TrainingJob(metadata: ObjectMeta(name: "churn", namespace: "ml"),
                             spec: TrainingJobSpec(modelName: "churn", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                                   output: OutputSpec(uri: "file:///m/")))
        tj.spec.schedule = TrainingSchedule(cron: "0 2 * * *")
        var status = TrainingJobStatus()
        var running = TrainingRun(name: "churn-2", trigger: RunTrigger(type: .schedule))
        var progress = TrainingProgress(roundsDone: 40, time: "2026-12-06T18:00:00Z")
        progress.rounds = 100
        progress.metric = "valid-logloss"
        progress.value = 0.41
        running.progress = progress
        var done = TrainingRun(name: "churn-1", trigger: RunTrigger(type: .created), result: .succeeded)
        done.modelVersion = "churn-v1"
        done.dataVersion = "2026-12-01"
        done.dataSha256 = String(repeating: "ab", count: 32)
        done.metrics = ["aucRoc": 0.91, "logLoss": 0.3]
        done.validationCurve = ValidationCurve(metric: "valid-logloss", rounds: [1, 50, 100], values: [0.69, 0.41, 0.38])
        status.runs = [running, done]
        status.activeRun = "churn-2"
        status.phase = .running
        status.nextScheduleTime = "2026-12-07T02:00:00Z"
        tj.status = status
        return tj
    }

    @Test func listShowsScheduleLastRunAndProgress() {
        let html = TrainingPages.list([Self.job()], namespace: "ml", selector: nil, next: nil)
        #expect(html.contains("0 2 * * *") && html.contains("2026-12-07T02:00:00Z"))
        #expect(html.contains("href=\"/training/ml/churn/runs/churn-2\""))
        #expect(html.contains("40/100 valid-logloss=0.41"))
    }

    @Test func jobLinksEachRunAndShowsItsNumbers() {
        let html = TrainingPages.job(Self.job(), csrf: "t")
        #expect(html.contains("href=\"/training/ml/churn/runs/churn-1\""))
        #expect(html.contains("version 2026-12-01 · sha256 abababababab"))
        #expect(html.contains("aucRoc 0.91"))
        #expect(html.contains("href=\"/models/ml/churn-v1\""))
    }

    @Test func runDrawsTheCurveWithOnePointPerRound() throws {
        let tj = Self.job()
        let done = try #require(tj.status?.runs?.last)
        let html = TrainingPages.run(tj, run: done)
        #expect(html.contains("data-points=\"3\""))
        #expect(html.contains("round 100"))
        #expect(html.contains("the lowest of them 0.38 at round 100"))
        #expect(html.contains("href=\"/models/ml/churn-v1\""))
        let running = try #require(tj.status?.runs?.first)
        let page = TrainingPages.run(tj, run: running)
        #expect(!page.contains("<svg") && page.contains("id=\"no-curve\"") && page.contains("40/100"))
    }

    @Test func namesFromTheClusterAreEscaped() throws {
        var tj = Self.job()
        tj.status?.runs?[1].validationCurve?.metric = "<script>"
        let html = TrainingPages.run(tj, run: try #require(tj.status?.runs?[1]))
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;"))
    }
}
