import Foundation
import Testing
@testable import SextantML

/// Runs the whole pipeline in-process and the `sextant-trainer` binary (exit codes, summary).
@Suite struct EndToEndTests {
    static func writeData(_ dir: URL, rows: Int = 3_000) throws -> URL {
        var rng = SplitMix64(seed: 17)
        var s = "x0,x1,x2,color,group,label\n"
        for _ in 0..<rows {
            let x0 = rng.nextGaussian(), x1 = rng.nextGaussian(), x2 = rng.nextGaussian()
            let color = ["red", "green", "blue"][Int(rng.next() % 3)]
            let group = rng.nextUnit() < 0.5 ? "a" : "b"
            let z = 1.2 * x0 - x1 + (color == "red" ? 0.8 : 0) + 0.4 * rng.nextGaussian()
            let x2text = rng.nextUnit() < 0.03 ? "" : String(x2)
            s += "\(x0),\(x1),\(x2text),\(color),\(group),\(z > 0.5 ? 1 : 0)\n"
        }
        let url = dir.appendingPathComponent("data.csv")
        try Data(s.utf8).write(to: url)
        return url
    }

    static func config(data: URL, out: URL, extra: String = "", algorithm: String = "gradientBoosting") -> String {
        """
        modelName: e2e
        data: {uri: "file://\(data.path)", version: v1}
        categoricalFeatures: [color]
        target: label
        protectedAttributes: [group]
        split: {train: 0.6, validation: 0.2, test: 0.2, seed: 3}
        algorithm: \(algorithm)
        hyperparameters: {nEstimators: 40, maxDepth: 4, learningRate: 0.2, earlyStoppingRounds: 10, threads: 2, folds: 3}
        gates:
          performance: [{metric: aucRoc, min: 0.8}]
          fairness: {maxDisparity: 0.2, minGroupSize: 50}
          robustness: {noiseLevels: [0.05], maxDegradation: 0.1}
          dataQuality: {maxNullRatio: 0.1, classBalance: {min: 0.05, max: 0.95}}
        output: {uri: "\(out.path)"}
        \(extra)
        """
    }

    @Test(arguments: ["gradientBoosting", "logisticRegression"])
    func pipelineWritesArtifactMetricsAndSummary(algorithm: String) async throws {
        let dir = try makeTempDir()
        let data = try Self.writeData(dir)
        let cfg = try TrainingConfig.parse(yaml: Self.config(data: data, out: dir.appendingPathComponent("out"), algorithm: algorithm))
        let outcome = try await Trainer.run(cfg)
        let s = outcome.summary
        #expect(s.status == .succeeded, "\(s.message ?? "")")
        #expect(s.data?.rows == 3_000)
        #expect(s.data?.sha256 == (try SHA256.hex(Data(contentsOf: data))))
        #expect((s.metrics?["aucRoc"] ?? 0) > 0.8)
        #expect(s.metrics?["cvAucMean"] != nil)
        #expect(s.gates?.map(\.name) == ["dataQuality.nullRatio", "dataQuality.classBalance", "performance.aucRoc",
                                         "fairness.group", "robustness.noise=0.05"])
        let artifactData = try Data(contentsOf: URL(fileURLWithPath: try #require(s.artifact?.uri)))
        #expect(s.artifact?.sha256 == (try SHA256.hex(artifactData)))
        let model = try ModelArtifact.load(data: artifactData)
        #expect(model.referenceProfile?.column("x2")?.nullCount ?? 0 > 0)
        #expect(model.features.map(\.name) == ["x0", "x1", "x2", "color"])
        let pred = try #require(model.predictor)
        let high = try pred.probability(pred.encode(["x0": .number(2), "x1": .number(-2), "x2": .missing, "color": .string("red")]))
        let low = try pred.probability(pred.encode(["x0": .number(-2), "x1": .number(2), "x2": .number(0), "color": .string("blue")]))
        #expect(high > 0.9 && low < 0.1)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/metrics.json").path))
        #expect(s.encodedCapped().count <= 4096)
    }

    @Test func pinnedHashMismatchIsBadInput() async throws {
        let dir = try makeTempDir()
        let data = try Self.writeData(dir, rows: 200)
        var cfg = try TrainingConfig.parse(yaml: Self.config(data: data, out: dir))
        cfg.data.sha256 = String(repeating: "0", count: 64)
        await #expect(throws: TrainerError.self) { _ = try await Trainer.run(cfg) }
        do { _ = try await Trainer.run(cfg) } catch let e as TrainerError {
            #expect(e.kind == .badInput && e.message.contains("sha256 mismatch"))
        }
    }

    @Test func dataQualityFailureStopsBeforeTraining() async throws {
        let dir = try makeTempDir()
        let data = try Self.writeData(dir, rows: 500)
        let cfg = try TrainingConfig.parse(yaml: Self.config(data: data, out: dir.appendingPathComponent("o"))
            .replacingOccurrences(of: "maxNullRatio: 0.1", with: "maxNullRatio: 0.001"))
        let outcome = try await Trainer.run(cfg)
        #expect(outcome.summary.status == .gateFailed)
        #expect(outcome.artifact == nil)
        #expect(outcome.summary.message?.contains("column 'x2'") == true)
    }

    // MARK: The binary

    static func trainerBinary() -> URL? {
        let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("sextant-trainer")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static func run(_ args: [String]) throws -> (Int32, String)? {
        guard let bin = trainerBinary() else {
            Issue.record("sextant-trainer is required but not built next to the tests (swift build --build-tests)")
            return nil
        }
        let p = Process()
        p.executableURL = bin
        p.arguments = args + ["--quiet"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, stderr)
    }

    @Test func binaryExitCodes() throws {
        let dir = try makeTempDir()
        let data = try Self.writeData(dir, rows: 1_500)
        let result = dir.appendingPathComponent("result.json")
        func summary() throws -> ResultSummary { try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result)) }

        let good = dir.appendingPathComponent("good.yaml")
        try Self.config(data: data, out: dir.appendingPathComponent("out")).write(to: good, atomically: true, encoding: .utf8)
        guard let (ok, _) = try Self.run(["--config", good.path, "--result-file", result.path]) else { return }
        #expect(ok == 0)
        #expect(try summary().status == .succeeded)

        let strict = dir.appendingPathComponent("strict.yaml")
        try Self.config(data: data, out: dir.appendingPathComponent("out2"))
            .replacingOccurrences(of: "min: 0.8", with: "min: 0.9999").write(to: strict, atomically: true, encoding: .utf8)
        let (gate, _) = try #require(try Self.run(["--config", strict.path, "--result-file", result.path]))
        #expect(gate == 3)
        #expect(try summary().gates?.first { $0.name == "performance.aucRoc" }?.passed == false)

        let typo = dir.appendingPathComponent("typo.yaml")
        try (Self.config(data: data, out: dir) + "\nlearningRate: 0.1\n").write(to: typo, atomically: true, encoding: .utf8)
        let (bad, stderr) = try #require(try Self.run(["--config", typo.path, "--result-file", result.path]))
        #expect(bad == 2)
        #expect(stderr.contains("unknown key 'learningRate'"))
        #expect(try summary().reason == "BadInput")

        let broken = dir.appendingPathComponent("broken.csv")
        try Data("x0,x1,x2,color,group,label\n1,2,3,red,a,1\n1,zz,3,red,a,0\n".utf8).write(to: broken)
        let (badData, msg) = try #require(try Self.run(["--config", good.path, "--data", broken.path, "--result-file", result.path]))
        #expect(badData == 2)
        #expect(msg.contains("line 3: column 'x1': non-numeric value 'zz'"))
    }
}
