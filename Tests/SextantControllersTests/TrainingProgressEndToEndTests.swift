import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Training progress (issue 19, item 3) on the local node with the real `sextant-trainer`: while
/// it trains, the controller reads its `sextant-progress` lines from the Pod's log (`pods/log`,
/// served from the node's files as `sextant dev apiserver --local-node` does) into the run's
/// `progress` and the `Progress` column, which the real `sextant get tj` shows.
struct TrainingProgressEndToEndTests {
    @Test func aRunningTrainerReportsRoundsMetricAndETA() async throws {
        guard try Tooling.available("sextant next to the test bundle (swift build --build-tests)",
                                    RolloutTreeEndToEndTests.sextantBinary != nil),
              let sextant = RolloutTreeEndToEndTests.sextantBinary else { return }
        try await withTrainingOnLocalNode { env, dir in
            let csv = dir.file("churn.csv")
            try writeChurnCSV(to: csv, rows: 20000)
            var tj = localTrainingJob("churn-long", model: "churn", csv: csv, models: dir.file("models"))
            tj.spec.hyperparameters?.nEstimators = 5000  // long enough to be seen running on any machine
            tj.spec.hyperparameters?.maxDepth = 6
            tj.spec.data.split = DataSplit(train: 0.7, validation: 0.1, test: 0.2)
            tj.spec.trainer?.args = ["--threads", "1"]  // progress lines are part of the trainer's stderr (not --quiet)
            _ = try await env.client.create(tj)

            var seen: [TrainingProgress] = []
            try await env.eventually("two progress reports of the running trainer", timeout: .seconds(90)) {
                let status = try await env.trainingJob("churn-long").status
                guard let run = status?.runs?.first, run.result == .running, let p = run.progress else { return false }
                if seen.last?.roundsDone != p.roundsDone { seen.append(p) }
                return seen.count >= 2
            }
            let first = seen[0], second = seen[1]
            #expect(second.roundsDone > first.roundsDone, "rounds go up: \(seen.map(\.roundsDone))")
            #expect(second.rounds == 5000 && second.roundsDone < 5000)
            #expect(second.metric == "valid-logloss")
            #expect(second.value.map { $0 > 0 && $0 < 1 } == true, "a log loss: \(String(describing: second.value))")
            #expect(second.etaSeconds.map { $0 > 0 } == true)

            let status = try #require(try await env.trainingJob("churn-long").status)
            let summary = try #require(status.progress)
            #expect(summary.hasPrefix("\(status.runs?.first?.progress?.roundsDone ?? -1)/5000 valid-logloss="), "\(summary)")
            #expect(summary.contains(" ETA "), "\(summary)")

            // The column as `sextant get tj` (and kubectl) shows it: the CRD's printer column.
            let kubeconfig = try TemporaryDirectory()
            try env.server.writeKubeconfig(to: kubeconfig.file("config"))
            let out = try runCommand(sextant, ["get", "tj", "churn-long", "--kubeconfig", kubeconfig.file("config"), "-n", env.namespace])
            #expect(out.code == 0, "\(out.output)")
            let lines = out.output.split(separator: "\n").map(String.init)
            #expect(lines.first?.contains("PROGRESS") == true, "\(out.output)")
            #expect(lines.dropFirst().first?.contains("/5000 valid-logloss=") == true, "\(out.output)")
        }
    }
}
