import Foundation
import SextantJSON
import SextantML
import Testing
@testable import SextantServing

@Suite struct DriftTests {
    @Test func psiOfIdenticalSharesIsZero() {
        #expect(Drift.psi(expected: [10, 20, 30], actual: [1, 2, 3]) == 0)
    }

    /// Live shares 40/30/20/10 % against a uniform reference of four bins:
    /// 0.15 ln 1.6 + 0.05 ln 1.2 + (-0.05) ln 0.8 + (-0.15) ln 0.4
    /// = 0.15*0.470004 + 0.05*0.182322 + 0.05*0.223144 + 0.15*0.916291 = 0.2282174
    @Test func psiMatchesHandComputedValue() {
        let psi = Drift.psi(expected: [250, 250, 250, 250], actual: [40, 30, 20, 10])
        #expect(abs(psi - 0.2282174) < 1e-6)
        // Symmetric in the roles of the two distributions.
        #expect(abs(Drift.psi(expected: [40, 30, 20, 10], actual: [250, 250, 250, 250]) - psi) < 1e-12)
    }

    /// An empty bin is floored at 1e-4: live all in bin 0 of a 50/30/20 reference gives
    /// 0.5 ln 2 + (1e-4 - 0.3) ln(1e-4/0.3) + (1e-4 - 0.2) ln(1e-4/0.2)
    /// = 0.346574 + 2.401768 + 1.518762 = 4.267104
    @Test func psiFloorsEmptyBins() {
        let psi = Drift.psi(expected: [500, 300, 200], actual: [100, 0, 0])
        #expect(abs(psi - 4.267104) < 1e-5)
        #expect(psi.isFinite)
    }

    /// Reference uniform on [0, 100]; live values 0...49: the empirical CDF reaches 1 at 49 where
    /// the reference is 0.49, so KS = 0.51.
    @Test func ksAgainstUniformReference() {
        let cdf = ReferenceCDF(xs: [0, 100], ps: [0, 1])
        let ks = Drift.ks(sortedLive: (0..<50).map(Double.init), referenceCDF: cdf)
        #expect(abs(ks - 0.51) < 1e-12)
        // A live sample spread like the reference has a small statistic.
        let same = Drift.ks(sortedLive: stride(from: 0.5, to: 100, by: 1).map { $0 }, referenceCDF: cdf)
        #expect(same <= 0.01 + 1e-12)
    }

    @Test func monitorBinsNumericCategoricalAndMissing() throws {
        let model = try artifactModel()
        let monitor = try #require(DriftMonitor(model: model, capacity: 100))
        // amount: 40 rows in [0,50), 30 in [50,100), 20 in [100,150), 10 in [150,..); country "de" (code 0).
        var values: [Double] = []
        for (count, amount) in [(40, 10.0), (30, 60.0), (20, 120.0), (10, 180.0)] {
            for _ in 0..<count { values += [amount, 0] }
        }
        monitor.observe(values, rows: 100)
        let drift = monitor.snapshot()
        let amount = try #require(drift.first { $0.feature == "amount" })
        let country = try #require(drift.first { $0.feature == "country" })
        #expect(abs(amount.psi - 0.2282174) < 1e-6)
        #expect(abs(country.psi - 4.267104) < 1e-5)
        #expect(country.ks == nil)
        #expect(amount.ks != nil)
    }

    @Test func windowKeepsOnlyTheLatestRows() throws {
        let model = try artifactModel()
        let monitor = try #require(DriftMonitor(model: model, capacity: 100))
        // 100 rows far from the reference, then 100 rows matching it: the first batch must be gone.
        monitor.observe([Double](repeating: 10, count: 200).enumerated().map { $0.offset % 2 == 1 ? 0 : $0.element }, rows: 100)
        var matching: [Double] = []
        for (i, amount) in [25.0, 75, 125, 175].enumerated() {
            for k in 0..<25 { matching += [amount, Double([0, 0, 1, 2][(i + k) % 4])] }
        }
        monitor.observe(matching, rows: 100)
        let amount = try #require(monitor.snapshot().first { $0.feature == "amount" })
        #expect(amount.psi < 1e-9)
        #expect(monitor.rowCount == 100)
    }
}

@Suite struct FeedbackTests {
    /// Classic example: scores 0.1 0.4 0.35 0.8 with labels 0 0 1 1 have AUC 0.75.
    @Test func aucByRanks() throws {
        let auc = try #require(FeedbackStore.auc([(0.1, false), (0.4, false), (0.35, true), (0.8, true)]))
        #expect(abs(auc - 0.75) < 1e-12)
        #expect(FeedbackStore.auc([(0.5, false), (0.5, true)]) == 0.5)
        #expect(FeedbackStore.auc([(0.5, true), (0.7, true)]) == nil)
    }

    @Test func labelsJoinPredictionsById() throws {
        let store = FeedbackStore(target: .binary(threshold: 0.5), predictions: 2)
        let a = store.record([0.9, 0.2])
        let b = store.record([0.7])
        var result = store.addLabels([FeedbackItem(id: a, labels: [true, true]), FeedbackItem(id: b + ":0", labels: [false])])
        #expect(result.matched == 3)
        // 0.9->1 right, 0.2->0 wrong (label 1), 0.7->1 wrong (label 0).
        let q = try #require(store.quality())
        #expect(abs(try #require(q.accuracy) - 1.0 / 3) < 1e-12)
        #expect(q.rmse == nil)
        // Capacity 2: a third prediction evicts the oldest id.
        _ = store.record([0.1])
        result = store.addLabels([FeedbackItem(id: a, labels: [true, true])])
        #expect(result.unknown == [a])
    }

    @Test func feedbackParsingNamesTheBadField() {
        #expect(throws: ServingError.self) { try FeedbackStore.parse(.object(["label": .int(1)]), target: .binary(threshold: 0.5)) }
        do {
            _ = try FeedbackStore.parse(.object(["id": .string("x"), "label": .int(7)]), target: .binary(threshold: 0.5))
            Issue.record("label 7 accepted")
        } catch {
            #expect(error.message.contains("feedback[0].label"))
        }
    }

    /// Regression: RMSE and MAE over the labelled rows, no accuracy; labels are any finite number.
    @Test func regressionLabelsGiveErrors() throws {
        let store = FeedbackStore(target: .regression)
        let id = store.record([1.0, 2.5, -4.0])
        let items = try FeedbackStore.parse(.object(["id": .string(id), "labels": .array([.double(2.0), .int(2), .double(-1.0)])]),
                                            target: .regression)
        #expect(store.addLabels(items).matched == 3)
        let q = try #require(store.quality())
        // errors -1, 0.5, -3: squared mean (1 + 0.25 + 9) / 3, absolute mean 4.5 / 3.
        #expect(abs(try #require(q.rmse) - (10.25 / 3).squareRoot()) < 1e-12)
        #expect(abs(try #require(q.mae) - 1.5) < 1e-12)
        #expect(q.accuracy == nil && q.auc == nil)
        for bad: JSONValue in [.string("2.0"), .bool(true), .null] {
            do {
                _ = try FeedbackStore.parse(.object(["id": .string(id), "label": bad, "row": .int(0)]), target: .regression)
                Issue.record("regression label \(bad.jsonString()) accepted")
            } catch {
                #expect(error.message.contains("feedback[0].label must be a finite number"), "\(error.message)")
            }
        }
    }

    /// K classes: accuracy of the predicted class; labels are class indices 0..<K.
    @Test func multiclassLabelsAreClassIndices() throws {
        let store = FeedbackStore(target: .multiclass(classes: 3))
        let id = store.record([2, 0, 1, 1])  // predicted classes
        let items = try FeedbackStore.parse(.object(["id": .string(id), "labels": .array([.int(2), .string("0"), .double(2), .int(1)])]),
                                            target: .multiclass(classes: 3))
        #expect(store.addLabels(items).matched == 4)
        let q = try #require(store.quality())
        #expect(q.accuracy == 0.75 && q.auc == nil && q.rmse == nil)
        for bad: JSONValue in [.int(3), .int(-1), .double(1.5), .string("cat")] {
            do {
                _ = try FeedbackStore.parse(.object(["id": .string(id), "label": bad, "row": .int(0)]), target: .multiclass(classes: 3))
                Issue.record("class label \(bad.jsonString()) accepted")
            } catch {
                #expect(error.message.contains("class index from 0 to 2"), "\(error.message)")
            }
        }
    }
}
