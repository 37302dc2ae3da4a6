import Foundation
import Testing
@testable import SextantML

@Suite struct MetricsTests {
    // Hand-computed: pairs (pos, neg) = (0.35 vs 0.1 ✓, 0.35 vs 0.4 ✗, 0.8 vs 0.1 ✓, 0.8 vs 0.4 ✓) → 3/4.
    @Test func aucMatchesHandComputedValue() {
        #expect(Metrics.auc(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8]) == 0.75)
    }

    @Test func tiedScoresCountOneHalf() {
        #expect(Metrics.auc(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.5, 0.5]) == 0.5)
        // Negatives 0.3 and 0.9. Pos 0.7: beats 0.3, loses to 0.9; pos 0.3: ties 0.3, loses to 0.9.
        // (1 + 0 + 0.5 + 0) / 4.
        #expect(Metrics.auc(labels: [1, 1, 0, 0], scores: [0.7, 0.3, 0.3, 0.9]) == 0.375)
    }

    @Test func averagePrecisionMatchesHandComputedValue() {
        // Ranking 0.8(1) 0.4(0) 0.35(1) 0.1(0): AP = 0.5*1 + 0.5*(2/3) = 0.8333…
        let (_, ap) = Metrics.areas(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        #expect(abs(ap - (0.5 + 1.0 / 3.0)) < 1e-12)
    }

    @Test func undefinedWithOneClass() {
        #expect(Metrics.auc(labels: [1, 1], scores: [0.2, 0.3]).isNaN)
    }

    @Test func thresholdMetricsAndConfusionMatrix() {
        let m = EvaluationMetrics(labels: [1, 1, 1, 0, 0, 0, 0, 0], probabilities: [0.9, 0.6, 0.2, 0.7, 0.1, 0.1, 0.3, 0.4], threshold: 0.5)
        #expect(m.confusionMatrix == ConfusionMatrix(truePositives: 2, falsePositives: 1, trueNegatives: 4, falseNegatives: 1))
        #expect(abs(m.precision - 2.0 / 3.0) < 1e-12)
        #expect(abs(m.recall - 2.0 / 3.0) < 1e-12)
        #expect(abs(m.f1 - 2.0 / 3.0) < 1e-12)
        #expect(m.accuracy == 0.75)
    }

    @Test func logLossAndCalibrationError() {
        let ll = Metrics.logLoss(labels: [1, 0], probabilities: [0.8, 0.4])
        #expect(abs(ll - (-(log(0.8) + log(0.6)) / 2)) < 1e-12)
        // Bins: [0.1: labels 0,0 → |0 - 0.1|], [0.9: labels 1,0 → |0.5 - 0.9|]; weights 1/2 each.
        let ece = Metrics.expectedCalibrationError(labels: [0, 0, 1, 0], probabilities: [0.1, 0.1, 0.9, 0.9])
        #expect(abs(ece - (0.5 * 0.1 + 0.5 * 0.4)) < 1e-12)
    }
}
