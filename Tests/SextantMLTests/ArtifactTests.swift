import Foundation
import Testing
@testable import SextantML

@Suite struct ArtifactTests {
    @Test func roundTripKeepsPredictions() throws {
        let data = Synthetic(rows: 3_000, seed: 31, missingRate: 0.1)
        var p = GBDTParameters(); p.nEstimators = 20; p.maxDepth = 4
        let (result, cuts) = trainGBDT(data.matrix, labels: data.labels, params: p)
        let model = try artifact(from: result, cuts: cuts, x: data.matrix)
        let loaded = try ModelArtifact.load(data: try model.encoded())
        #expect(loaded.format == "sextant-model/v1")
        for i in stride(from: 0, to: 3_000, by: 97) {
            let row: [Double?] = data.columns.map { $0[i].isNaN ? nil : $0[i] }
            #expect(try loaded.predictProbability(row) == (try model.predictProbability(row)))
        }
        #expect(errorMessage { _ = try loaded.predictProbability([1, 2]) }.contains("expected 6 features"))
    }

    @Test func rejectsMalformedArtifactsWithoutCrashing() throws {
        let good: [String: Any] = [
            "format": "sextant-model/v1", "modelName": "m", "trainerVersion": "0", "createdAt": "x",
            "algorithm": "gradientBoosting", "objective": "binary:logistic", "baseScore": 0, "threshold": 0.5,
            "hyperparameters": [String: Double](),
            "features": [["name": "a", "type": "numeric"]],
            "trees": [["splitFeature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                       "defaultLeft": [true, true, true], "value": [0, -1, 1]]],
        ]
        let ok = try ModelArtifact.load(data: JSONSerialization.data(withJSONObject: good))
        #expect(try ok.predictProbability([0.1]) == 1 / (1 + exp(1.0)))
        #expect(try ok.predictProbability([nil]) == 1 / (1 + exp(1.0)))
        #expect(try ok.predictProbability([0.9]) == 1 / (1 + exp(-1.0)))

        func broken(_ edit: (inout [String: Any]) -> Void) throws -> String {
            var doc = good
            edit(&doc)
            let data = try JSONSerialization.data(withJSONObject: doc)
            return errorMessage { _ = try ModelArtifact.load(data: data) }
        }
        #expect(try broken { $0["format"] = "sextant-model/v9" }.contains("unsupported format"))
        #expect(try broken { d in
            d["trees"] = [["splitFeature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [0, -1, -1], "right": [2, -1, -1],
                           "defaultLeft": [true, true, true], "value": [0, -1, 1]]]
        }.contains("child index out of range"))
        #expect(try broken { d in
            d["trees"] = [["splitFeature": [3, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                           "defaultLeft": [true, true, true], "value": [0, -1, 1]]]
        }.contains("feature 3 out of range"))
        #expect(try broken { d in
            d["trees"] = [["splitFeature": [0, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                           "defaultLeft": [true, true, true], "value": [0, -1, 1]]]
        }.contains("differ in length"))
        #expect(try broken { $0["features"] = "nope" }.contains("not a valid sextant-model document"))
    }

    @Test func summaryStaysUnderFourKiB() {
        var s = ResultSummary(status: .gateFailed)
        s.message = String(repeating: "m", count: 3000)
        s.gates = (0..<200).map { GateResult(name: "performance.g\($0)", passed: $0 % 2 == 0, value: 0.5, threshold: 0.6,
                                             message: String(repeating: "x", count: 100)) }
        let data = s.encodedCapped()
        #expect(data.count <= ResultSummary.maxBytes)
        let decoded = try? JSONDecoder().decode(ResultSummary.self, from: data)
        #expect(decoded?.truncated == true)
        #expect(decoded?.status == .gateFailed)
        #expect(decoded?.gates?.allSatisfy { !$0.passed } == true)
    }
}
