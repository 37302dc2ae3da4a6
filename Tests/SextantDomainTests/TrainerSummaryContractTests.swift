import SextantAPI
import SextantDomain
import SextantJSON
import SextantTrainingContract
import Testing

/// The controller's reading of the trainer's result summary (TrainerSummary) covers every field
/// the training contract names (ResultSummaryContract); SextantAPITests checks the trainer writes
/// exactly those fields.
@Suite struct TrainerSummaryContractTests {
    /// A document with every contract field set to a value of its kind.
    static var document: String {
        func sample(_ field: String) -> String {
            switch field {
            case "status": "\"\(ResultSummaryContract.statuses[1])\""
            case "reason": "\"\(ResultSummaryContract.reasons[1])\""
            case "artifact": "{" + ResultSummaryContract.artifactFields.map { "\"\($0)\": \($0 == "size" ? "12" : "\"x\"")" }.joined(separator: ",") + "}"
            case "data": "{" + ResultSummaryContract.dataFields.map { "\"\($0)\": \($0 == "rows" ? "3" : "\"x\"")" }.joined(separator: ",") + "}"
            case "gates": "[{" + ResultSummaryContract.gateFields.map { f in
                "\"\(f)\": " + (f == "passed" ? "false" : (f == "value" || f == "threshold") ? "0.5" : (f == "name" ? "\"performance.aucRoc\"" : "\"x\""))
            }.joined(separator: ",") + "}]"
            case "hyperparameters": "{\"nEstimators\": 10}"
            case "metrics": "{\"aucRoc\": 0.9}"
            case "durationSeconds": "1.5"
            case "truncated": "true"
            case "validationCurve": "{" + ResultSummaryContract.validationCurveFields.map { f in
                "\"\(f)\": " + (f == "metric" ? "\"valid-logloss\"" : f == "rounds" ? "[1, 50, 100]" : "[0.69, 0.4, 0.35]")
            }.joined(separator: ",") + "}"
            default: "\"x\""
            }
        }
        return "{" + ResultSummaryContract.fields.map { "\"\($0)\": \(sample($0))" }.joined(separator: ", ") + "}"
    }

    @Test func everyContractFieldIsRead() throws {
        let summary = try #require(TrainerSummary(parsing: Self.document))
        let read: [String: Bool] = [
            "status": summary.status != nil, "reason": summary.reason != nil, "message": summary.message != nil,
            "modelName": summary.modelName != nil, "trainerVersion": summary.trainerVersion != nil,
            "artifact": summary.artifact?.uri != nil && summary.artifact?.sha256 != nil && summary.artifact?.size != nil,
            "metricsUri": summary.metricsUri != nil,
            "data": summary.data?.uri != nil && summary.data?.version != nil && summary.data?.sha256 != nil && summary.data?.rows != nil,
            "algorithm": summary.algorithm != nil, "hyperparameters": summary.hyperparameters != nil,
            "metrics": summary.metrics != nil,
            "gates": summary.gates?.first.map { $0.value != nil && $0.threshold != nil && $0.message != nil } == true,
            "durationSeconds": summary.durationSeconds != nil, "truncated": summary.truncated != nil,
            "validationCurve": summary.validationCurve == ValidationCurve(metric: "valid-logloss", rounds: [1, 50, 100], values: [0.69, 0.4, 0.35]),
        ]
        // createdAt is recorded by the trainer for people and MLflow; the controller has no use for it.
        let unread: Set<String> = ["createdAt"]
        for field in ResultSummaryContract.fields where !unread.contains(field) {
            #expect(read[field] == true, "TrainerSummary does not read the result summary's \(field)")
        }
        #expect(Set(read.keys).union(unread) == Set(ResultSummaryContract.fields), "TrainerSummary reads fields the contract does not name")
        // Gate result names group by the contract's gates.
        #expect(summary.gateSummary?.results?.first?.gate.rawValue == TrainingContract.gate("performance")?.resultName)
    }

    /// A malformed curve is ignored, never a failure: the rest of the summary is still read.
    @Test(arguments: [
        #"{"rounds": [1, 2], "values": [0.5]}"#,
        #"{"rounds": [2, 1], "values": [0.5, 0.4]}"#,
        #"{"rounds": [0, 1], "values": [0.5, 0.4]}"#,
        #"{"rounds": [1.5], "values": [0.5]}"#,
        #"{"rounds": [1], "values": ["x"]}"#,
        #""curve""#,
    ])
    func malformedCurveIsIgnored(_ curve: String) throws {
        let summary = try #require(TrainerSummary(parsing: #"{"status": "Succeeded", "metrics": {"aucRoc": 0.9}, "validationCurve": "#
                                                   + curve + "}"))
        #expect(summary.validationCurve == nil)
        #expect(summary.metrics?["aucRoc"] == 0.9)
        let tooLong = "{\"validationCurve\": {\"rounds\": [" + (1...(ValidationCurve.maxPoints + 1)).map(String.init).joined(separator: ",")
            + "], \"values\": [" + Array(repeating: "0.5", count: ValidationCurve.maxPoints + 1).joined(separator: ",") + "]}}"
        #expect(TrainerSummary(parsing: tooLong)?.validationCurve == nil)
    }

    /// A finished run keeps the summary's data, metrics and curve.
    @Test func runRecordsTheSummary() throws {
        let summary = try #require(TrainerSummary(parsing: Self.document))
        var run = TrainingRun(name: "t-1", trigger: RunTrigger(type: .manual), result: .gateFailed)
        run.record(summary)
        #expect(run.dataSha256 == "x" && run.dataVersion == "x")
        #expect(run.metrics == ["aucRoc": 0.9])
        #expect(run.validationCurve?.rounds == [1, 50, 100])
        run.record(nil)
        #expect(run.metrics == nil && run.validationCurve == nil)
    }
}
