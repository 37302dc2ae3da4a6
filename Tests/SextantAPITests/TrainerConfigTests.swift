import Foundation
import SextantAPI
import SextantJSON
import SextantML
import Testing

/// The CRD's training part must be something `sextant-trainer` accepts: every TrainingJob
/// example, mapped with `trainerConfig(outputURI:)`, parses with the trainer's own strict parser
/// (which rejects unknown keys and out-of-range values by name).
@Suite struct TrainerConfigTests {
    @Test func everyExampleJobMapsToAConfigTheTrainerAccepts() throws {
        let jobs = try exampleFiles().filter { $0.kind == "TrainingJob" }
        #expect(jobs.count >= 2)
        for example in jobs {
            let job = try example.json.decode(as: TrainingJob.self)
            let config = try job.spec.trainerConfig(outputURI: "file:///tmp/models/\(job.spec.modelName)/v1/")
            let text = String(decoding: try config.encoded(), as: UTF8.self)
            do {
                let parsed = try TrainingConfig.parse(yaml: text)
                #expect(parsed.modelName == job.spec.modelName)
                #expect(parsed.target == job.spec.data.target)
                #expect(parsed.data.uri == job.spec.data.source.uri)
                #expect(parsed.output?.uri == "file:///tmp/models/\(job.spec.modelName)/v1/")
            } catch {
                Issue.record("\(example.url.lastPathComponent): the trainer rejects the mapped config: \(error)\n\(text)")
            }
        }
    }

    @Test func mappingDetails() throws {
        let text = try String(contentsOf: repoRoot.appendingPathComponent("manifests/examples/trainingjob-fraud-detector.yaml"),
                              encoding: .utf8)
        let job = try JSONValue.parseYAML(text).decode(as: TrainingJob.self)
        let parsed = try TrainingConfig.parse(yaml: String(decoding: try job.spec.trainerConfig(outputURI: "s3://m/x/").encoded(),
                                                           as: UTF8.self))
        #expect(parsed.algorithm == .gradientBoosting)
        #expect(parsed.data.format == "csv.gz")
        #expect(parsed.features == ["transaction_amount", "time_since_last_transaction", "merchant_category",
                                    "user_transaction_count_24h"])
        #expect(parsed.categoricalFeatures == ["merchant_category"])
        #expect(parsed.protectedAttributes == ["age_group", "gender"])
        #expect(parsed.hyperparameters?.nEstimators == 500)
        #expect(parsed.hyperparameters?.earlyStoppingRounds == 50)
        #expect(parsed.hyperparameters?.folds == 5)
        #expect(parsed.threshold == 0.5)  // schema default of decisionThreshold
        #expect(parsed.gates?.performance?.map(\.metric) == ["aucRoc", "precision", "recall"])
        #expect(parsed.gates?.fairness?.maxDisparity == 0.1)
        #expect(parsed.gates?.fairness?.minGroupSize == 100)
        #expect(parsed.gates?.robustness?.noiseLevels == [0.001, 0.01, 0.1])
        #expect(parsed.gates?.dataQuality?.classBalance?.max == 0.5)
        #expect(parsed.split?.train == 0.7)

        // Defaults the user did not write reach the trainer: split and an `earlyStoppingRounds: 0` left out.
        let minimal = TrainingJobSpec(modelName: "m", data: DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y"),
                                      output: OutputSpec(uri: "file:///o/"))
        var spec = minimal
        spec.hyperparameters = Hyperparameters()
        let config = try spec.trainerConfig(outputURI: "file:///o/m/v1/")
        #expect(config[path: ["split", "test"]]?.doubleValue == 0.15)
        #expect(config[path: ["hyperparameters", "earlyStoppingRounds"]] == nil)
        #expect(config[path: ["hyperparameters", "maxBin"]] == 255)
        _ = try TrainingConfig.parse(yaml: String(decoding: try config.encoded(), as: UTF8.self))
    }

    /// Issue 16: admission (the Swift mirror and the CRD's CEL rules) and `sextant-trainer` accept
    /// and reject the same splits. `train: 0.8, test: 0.1` used to be admitted and then fail.
    static let splitCases: [(String, SextantAPI.DataSplit, Bool)] = [
        ("default-ratios", SextantAPI.DataSplit(train: 0.7, validation: 0.15, test: 0.15), true),
        ("two-ratios", SextantAPI.DataSplit(train: 0.8, test: 0.2), true),
        ("under-one", SextantAPI.DataSplit(train: 0.8, test: 0.1), false),
        ("over-one", SextantAPI.DataSplit(train: 0.8, validation: 0.2, test: 0.2), false),
        ("train-only", SextantAPI.DataSplit(train: 1.0), true),
        ("no-train", SextantAPI.DataSplit(validation: 0.2, test: 0.8), false),
        ("within-tolerance", SextantAPI.DataSplit(train: 0.8, test: 0.2 + 5e-7), true),
        ("outside-tolerance", SextantAPI.DataSplit(train: 0.8, test: 0.2 + 5e-6), false),
        ("no-ratios", SextantAPI.DataSplit(stratify: false), true),
        ("column", SextantAPI.DataSplit(column: "part"), true),
        ("column-overrides-ratios", SextantAPI.DataSplit(train: 0.5, column: "part"), true),
        ("seeded", SextantAPI.DataSplit(train: 0.6, validation: 0.2, test: 0.2, seed: 7), true),
    ]

    static func job(_ split: SextantAPI.DataSplit) -> TrainingJob {
        var spec = TrainingJobSpec(modelName: "m", data: DataSpec(source: SextantAPI.DataSource(uri: "file:///d.csv"), target: "y"),
                                   output: OutputSpec(uri: "file:///o/"))
        spec.data.split = split
        return TrainingJob(metadata: .init(name: "j"), spec: spec)
    }

    @Test func admissionAndTrainerAgreeOnSplits() throws {
        for (name, split, valid) in Self.splitCases {
            let job = Self.job(split)
            let admitted = !job.validate().contains { $0.path.hasPrefix("spec.data.split") }
            let config = try job.spec.trainerConfig(outputURI: "file:///o/m/v1/")
            let text = String(decoding: try config.encoded(), as: UTF8.self)
            var trainerAccepts = true
            do { _ = try TrainingConfig.parse(yaml: text) } catch { trainerAccepts = false }
            #expect(admitted == valid, "\(name): admission \(admitted ? "accepts" : "rejects")")
            #expect(trainerAccepts == valid, "\(name): the trainer \(trainerAccepts ? "accepts" : "rejects") \(text)")
        }
        #expect(SextantAPI.DataSplit.fractionTolerance == TrainingConfig.splitFractionTolerance)
    }

    @Test func splitColumnAndSeedReachTheTrainer() throws {
        let config = try Self.job(SextantAPI.DataSplit(stratify: false, seed: 9, column: "part")).spec.trainerConfig(outputURI: "file:///o/")
        let parsed = try TrainingConfig.parse(yaml: String(decoding: try config.encoded(), as: UTF8.self))
        #expect(parsed.split?.column == "part")
        #expect(parsed.split?.seed == 9)
        #expect(parsed.split?.stratify == false)
    }

    @Test func celRulesAgreeOnSplits() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-split-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        var files: [String] = []
        for (name, split, _) in Self.splitCases {
            let json = try JSONValue(encoding: Self.job(split))
            let url = tmp.appendingPathComponent("\(name).json")
            try json.encoded().write(to: url)
            files.append(url.path)
        }
        guard let results = try CELRulesTests().runCELCheck(files) else { return }
        #expect(results.count == Self.splitCases.count)
        for ((name, _, valid), result) in zip(Self.splitCases, results) {
            let rejected = result.errors.contains { $0.contains("split") }
            #expect(rejected == !valid, "\(name): CEL errors \(result.errors)")
        }
    }
}
