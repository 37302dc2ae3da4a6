import Foundation
import SextantAPI
import SextantDomain
import SextantTestSupport
import Testing

@Suite struct PredictionShiftTests {
    static let bounds: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, .infinity]

    /// Cumulative bucket counts (as Prometheus answers `sum by (le)`) from per-bin counts.
    static func cumulative(_ bins: [Double]) -> [Double: Double] {
        var total = 0.0
        var out: [Double: Double] = [:]
        for (le, n) in zip(bounds, bins + [0]) {
            total += n
            out[le] = total
        }
        return out
    }

    /// PSI computed by numpy in a separate process from the per-bin counts, with the same
    /// half-count smoothing (docs/canary.md#prediction-shift).
    @Test func psiMatchesNumpy() throws {
        guard try Tooling.available("python3 with numpy", Tooling.pythonHas(["numpy"])) else { return }
        let cases: [([Double], [Double])] = [
            ([10, 20, 30, 40, 50, 50, 40, 30, 20, 10], [12, 18, 33, 37, 52, 48, 41, 29, 19, 11]),
            ([0, 0, 0, 100, 0, 0, 100, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 100, 100]),
            ([5, 5, 5, 5, 5, 5, 5, 5, 5, 500], [500, 5, 5, 5, 5, 5, 5, 5, 5, 5]),
            ([1000, 0, 0, 0, 0, 0, 0, 0, 0, 0], [990, 10, 0, 0, 0, 0, 0, 0, 0, 0]),
        ]
        let rows = cases.map { "(\($0.0), \($0.1))" }.joined(separator: ", ")
        let script = """
        import numpy as np
        for s, c in [\(rows)]:
            s, c = np.array(s + [0], float), np.array(c + [0], float)
            k = len(s)
            ps, pc = (s + 0.5) / (s.sum() + k / 2), (c + 0.5) / (c.sum() + k / 2)
            psi = float(np.sum((pc - ps) * np.log(pc / ps)))
            ks = float(np.max(np.abs(np.cumsum(c) / c.sum() - np.cumsum(s) / s.sum())))
            print(repr(psi), repr(ks))
        """
        let (code, output) = try runCommand("/usr/bin/env", ["python3", "-c", script])
        #expect(code == 0, "\(output)")
        let expected = output.split(separator: "\n").map { $0.split(separator: " ").compactMap { Double($0) } }
        #expect(expected.count == cases.count, "\(output)")
        for (c, reference) in zip(cases, expected) where reference.count == 2 {
            let d = PredictionShift.decide(stable: Self.cumulative(c.0), canary: Self.cumulative(c.1), maxPSI: 0.1, minSamples: 1)
            let psi = try #require(d.psi), ks = try #require(d.ks)
            #expect(abs(psi - reference[0]) <= 1e-12 + 1e-9 * reference[0], "\(c): ours \(psi), numpy \(reference[0])")
            #expect(abs(ks - reference[1]) <= 1e-12, "\(c): ours \(ks), numpy \(reference[1])")
            #expect(d.outcome == (reference[0] > 0.1 ? .fail : .pass))
        }
    }

    @Test func agreeingPassesDivergingFails() {
        let stable = Self.cumulative([0, 0, 0, 0, 480, 0, 520, 0, 0, 0])
        let agreeing = PredictionShift.decide(stable: stable, canary: Self.cumulative([0, 0, 0, 0, 470, 0, 530, 0, 0, 0]),
                                              maxPSI: 0.1, minSamples: 200)
        #expect(agreeing.outcome == .pass && (agreeing.psi ?? 1) < 0.01, "\(agreeing.message)")
        let flipped = PredictionShift.decide(stable: stable, canary: Self.cumulative([0, 520, 0, 0, 0, 0, 0, 0, 480, 0]),
                                             maxPSI: 0.1, minSamples: 200)
        #expect(flipped.outcome == .fail && (flipped.psi ?? 0) > 1, "\(flipped.message)")
        #expect(flipped.message.contains("diverge"), "\(flipped.message)")
    }

    @Test func tooFewOrMismatchedBucketsDecideNothing() {
        let stable = Self.cumulative([0, 0, 0, 0, 480, 0, 520, 0, 0, 0])
        #expect(PredictionShift.decide(stable: stable, canary: Self.cumulative([0, 0, 0, 0, 5, 0, 5, 0, 0, 0]),
                                       maxPSI: 0.1, minSamples: 200).outcome == .insufficientData)
        #expect(PredictionShift.decide(stable: stable, canary: [:], maxPSI: 0.1, minSamples: 200).outcome == .insufficientData)
        let other = PredictionShift.decide(stable: stable, canary: [0.5: 100, .infinity: 200], maxPSI: 0.1, minSamples: 1)
        #expect(other.outcome == .invalid && other.message.contains("different buckets"), "\(other.message)")
        // A cumulative count that dips (increase() extrapolates each series) counts as an empty bin.
        var dipping = Self.cumulative([0, 0, 0, 0, 480, 0, 520, 0, 0, 0])
        dipping[0.6] = 479.5
        #expect(PredictionShift.decide(stable: stable, canary: dipping, maxPSI: 0.1, minSamples: 1).outcome == .pass)
    }

    @Test func measurementAndQuery() throws {
        let variables = AnalysisVariables(namespace: "ml", name: "fraud", model: "fraud", stable: "v1", canary: "v2", interval: "1m")
        let q = try PredictionShift.query(version: "v2", interval: "10s", variables)
        #expect(q == #"sum by (le) (increase(sextant_prediction_score_bucket{namespace="ml", model="fraud", version="v2"}[10s]))"#)
        let check = PredictionShiftCheck(maxPSI: 0.2)
        let stable = Self.cumulative([0, 0, 0, 0, 480, 0, 520, 0, 0, 0])
        let m = PredictionShift.measure(check, query: q, stable: .success(stable),
                                        canary: .success(Self.cumulative([0, 520, 0, 0, 0, 0, 0, 0, 480, 0])), time: "t")
        #expect(m.metric == "predictionShift" && m.outcome == .fail && (m.value ?? 0) > 0.2)
        let down = PredictionShift.measure(check, query: q, stable: .failure(AnalysisQueryError("connection refused")),
                                           canary: .success(stable), time: "t")
        #expect(down.outcome == .error && down.message == "connection refused")
        let early = PredictionShift.measure(check, query: q, stable: .success(stable), canary: .success([:]), time: "t")
        #expect(early.outcome == .noData)
    }
}
