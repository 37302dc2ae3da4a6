import Foundation
import SextantTrainingContract
import Testing
@testable import SextantML

/// The validation curve in the result summary: downsampled to the contract's maximum, the same
/// numbers as `metrics.json`'s full per-round history, and the first thing thinned when the
/// summary is over its 4 KiB.
@Suite struct ValidationCurveTests {
    @Test(arguments: [1, 2, 99, 100, 101, 137, 5_000])
    func roundsAreCappedEvenAndKeepTheEnds(count: Int) {
        let rounds = ValidationCurveContract.rounds(of: count)
        #expect(rounds.count == min(count, ValidationCurveContract.maxPoints))
        #expect(rounds.first == 1 && rounds.last == count)
        #expect(zip(rounds, rounds.dropFirst()).allSatisfy { $0 < $1 })
        if count > ValidationCurveContract.maxPoints {
            let gaps = zip(rounds, rounds.dropFirst()).map { $1 - $0 }
            #expect((gaps.max() ?? 0) - (gaps.min() ?? 0) <= 1, "evenly spaced: \(Set(gaps))")
        }
        #expect(ValidationCurveContract.rounds(of: 0).isEmpty)
    }

    @Test func trainerSummaryHasTheCurveOfMetricsJSON() async throws {
        let dir = try makeTempDir()
        let data = try EndToEndTests.writeData(dir, rows: 1_500)
        let out = dir.appendingPathComponent("out")
        let cfg = try TrainingConfig.parse(yaml: EndToEndTests.config(data: data, out: out)
            .replacingOccurrences(of: "nEstimators: 40", with: "nEstimators: 150")
            .replacingOccurrences(of: "earlyStoppingRounds: 10, ", with: "")
            .replacingOccurrences(of: ", folds: 3", with: ""))
        let s = try await Trainer.run(cfg).summary
        let doc = try JSONDecoder().decode(MetricsDocument.self, from: Data(contentsOf: out.appendingPathComponent("metrics.json")))
        let full = try #require(doc.validationLoss)
        #expect(full.count == 150)
        let curve = try #require(s.validationCurve)
        #expect(curve.metric == "valid-logloss")
        #expect(curve.rounds == ValidationCurveContract.rounds(of: 150))
        for (round, value) in zip(curve.rounds, curve.values) {
            #expect(abs(value - full[round - 1]) <= 1e-5 * abs(full[round - 1]), "round \(round): \(value) vs \(full[round - 1])")
        }
        let encoded = s.encodedCapped()
        #expect(encoded.count <= ResultSummaryContract.maxBytes)
        #expect(try JSONDecoder().decode(ResultSummary.self, from: encoded).validationCurve == curve, "fits whole: \(encoded.count) bytes")
    }

    /// Over 4 KiB: the curve is thinned (ends kept), then dropped, before any gate message goes.
    @Test func cappingThinsTheCurveBeforeGateMessages() throws {
        var s = ResultSummary(status: .succeeded)
        s.validationCurve = ResultSummary.ValidationCurve(metric: "valid-logloss", losses: (1...500).map { 1 / Double($0) + 0.123456789 })
        s.gates = (0..<14).map { GateResult(name: "fairness.g\($0)", passed: true, value: 0.1, threshold: 0.2,
                                            message: String(repeating: "m", count: 160)) }
        let full = try JSONEncoder().encode(s).count
        #expect(full > ResultSummary.maxBytes)
        let capped = try JSONDecoder().decode(ResultSummary.self, from: s.encodedCapped())
        #expect(capped.truncated == true)
        let curve = try #require(capped.validationCurve)
        #expect(curve.rounds.count < 100 && curve.rounds.count >= 12 && curve.rounds.first == 1 && curve.rounds.last == 500)
        #expect(capped.gates?.allSatisfy { $0.message.count == 160 } == true, "gate messages kept while the curve could shrink")
    }
}
