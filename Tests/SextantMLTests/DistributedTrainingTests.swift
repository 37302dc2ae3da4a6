import Foundation
import Testing
@testable import SextantML

/// Data-parallel training under Open MPI's real `mpirun` (docs/trainer.md "Training on several
/// ranks"): 2, 3 and 4 ranks (oversubscribed on a 2-core machine) must write the byte-identical
/// model of one process; a rank that cannot read its shard stops every rank with exit code 2.
@Suite(.serialized) struct DistributedTrainingTests {
    /// Binary data with a categorical column whose levels first appear in different shards, missing
    /// values, a weight column and a numeric target for the regression case.
    static func writeData(_ dir: URL, rows: Int) throws -> URL {
        var rng = SplitMix64(seed: 29)
        var s = "x0,x1,x2,color,w,y,label\n"
        for i in 0..<rows {
            let x0 = rng.nextGaussian(), x1 = rng.nextGaussian(), x2 = rng.nextGaussian()
            // "violet" only in the last quarter: its code depends on merging the ranks' levels.
            let palette = i < rows * 3 / 4 ? ["red", "green", "blue"] : ["violet", "blue", "red", "green"]
            let color = palette[Int(rng.next() % UInt64(palette.count))]
            let z = 1.2 * x0 - x1 + (color == "red" ? 0.8 : 0) + (color == "violet" ? -1 : 0) + 0.4 * rng.nextGaussian()
            let x2text = rng.nextUnit() < 0.05 ? "" : String(x2)
            let w = 0.5 + rng.nextUnit()
            s += "\(x0),\(x1),\(x2text),\(color),\(w),\(z + 0.1 * x2),\(z > 0.5 ? 1 : 0)\n"
        }
        let url = dir.appendingPathComponent("data.csv")
        try Data(s.utf8).write(to: url)
        return url
    }

    /// `regression`: reg:squarederror with the weight column; `objective` another regression
    /// objective (weighted when `weighted`), `hyperparameters` added to the common ones.
    static func config(data: URL, out: URL, regression: Bool = false, objective: String? = nil, weighted: Bool = false,
                       hyperparameters: String = "") -> String {
        let objective = objective ?? (regression ? "reg:squarederror" : nil)
        let regression = objective != nil
        let weighted = weighted || objective == "reg:squarederror"
        return """
        modelName: mpi
        data: {uri: "file://\(data.path)", version: v1}
        features: [x0, x1, x2, color]
        categoricalFeatures: [color]
        target: \(regression ? "y" : "label")
        \(objective.map { "objective: \($0)" } ?? "")
        \(weighted ? "weightColumn: w" : "")
        split: {train: 0.75, test: 0.25, seed: 5}
        hyperparameters: {nEstimators: 6, maxDepth: 4, learningRate: 0.3, maxBin: 64, colsampleBytree: 0.75, threads: 1\(hyperparameters)}
        gates:
          performance: [{metric: \(regression ? "rmse, max: 100" : "aucRoc, min: 0.7")}]
          dataQuality: {maxNullRatio: 0.2}
        output: {uri: "\(out.path)"}
        """
    }

    static func mpirun() -> String? {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/mpirun") {
            return dir + "/mpirun"
        }
        Issue.record("mpirun (Debian package openmpi-bin) is required for the distributed trainer tests: apt-get install openmpi-bin libopenmpi-dev")
        return nil
    }

    /// Runs the trainer on `ranks` ranks (1: without mpirun). Returns exit code and stderr.
    static func train(ranks: Int, config: URL, result: URL) throws -> (Int32, String)? {
        guard let bin = EndToEndTests.trainerBinary() else {
            Issue.record("sextant-trainer is required but not built next to the tests (swift build --build-tests)")
            return nil
        }
        let p = Process()
        var args = ["--config", config.path, "--result-file", result.path]
        if ranks == 1 {
            p.executableURL = bin
        } else {
            guard let mpirun = mpirun() else { return nil }
            p.executableURL = URL(fileURLWithPath: mpirun)
            args = ["-np", String(ranks), "--oversubscribe", "--bind-to", "none", bin.path] + args
            var env = ProcessInfo.processInfo.environment
            // Open MPI refuses to run as root (CI containers) unless told both of these.
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
            // Shared memory between the ranks without ptrace (restricted in containers).
            env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
            p.environment = env
        }
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, stderr)
    }

    @Test(arguments: [false, true])
    func ranksTrainTheSingleProcessModel(regression: Bool) throws {
        let dir = try makeTempDir("sextant-mpi")
        let data = try Self.writeData(dir, rows: 2_400)
        var hashes: [Int: String] = [:]
        var summaries: [Int: ResultSummary] = [:]
        for ranks in regression ? [1, 3] : [1, 2, 4] {
            let out = dir.appendingPathComponent("out\(ranks)")
            let cfg = dir.appendingPathComponent("c\(ranks).yaml")
            try Self.config(data: data, out: out, regression: regression).write(to: cfg, atomically: true, encoding: .utf8)
            let result = dir.appendingPathComponent("r\(ranks).json")
            guard let (code, stderr) = try Self.train(ranks: ranks, config: cfg, result: result) else { return }
            #expect(code == 0, "\(ranks) ranks: \(stderr)")
            let model = try Data(contentsOf: out.appendingPathComponent("model.json"))
            hashes[ranks] = try SHA256.hex(model)
            summaries[ranks] = try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result))
            if ranks > 1 { #expect(stderr.contains("on \(ranks) ranks"), "\(stderr)") }
        }
        let one = try #require(hashes[1])
        for (ranks, hash) in hashes { #expect(hash == one, "model of \(ranks) ranks differs from one process") }
        for (ranks, s) in summaries {
            #expect(s.status == .succeeded, "\(ranks): \(s.message ?? "")")
            #expect(s.artifact?.sha256 == one)
            #expect(s.metrics == summaries[1]?.metrics)
            #expect(s.data == summaries[1]?.data)
        }
        let artifact = try ModelArtifact.load(data: Data(contentsOf: dir.appendingPathComponent("out1/model.json")))
        // Codes in order of first appearance in the file: violet appears last.
        let colors = artifact.features.first { $0.name == "color" }?.categories
        #expect(colors?.count == 4 && colors?.last == "violet")
        #expect(artifact.data?.rows == 2_400)
    }

    /// Absolute error (unweighted: the interpolated median) and quantile error at alpha 0.8 with
    /// weights (the weighted quantile): their leaves are refitted to quantiles of all ranks' rows,
    /// gathered to every rank, so 2 and 3 ranks write the single-process model.
    @Test(arguments: [("reg:absoluteerror", false, ""), ("reg:quantileerror", true, ", quantileAlpha: 0.8")])
    func leafQuantileObjectivesTrainTheSingleProcessModel(objective: String, weighted: Bool, alpha: String) throws {
        let dir = try makeTempDir("sextant-mpi")
        let data = try Self.writeData(dir, rows: 2_400)
        var hashes: [Int: String] = [:]
        var summaries: [Int: ResultSummary] = [:]
        for ranks in [1, 2, 3] {
            let out = dir.appendingPathComponent("out\(ranks)")
            let cfg = dir.appendingPathComponent("c\(ranks).yaml")
            try Self.config(data: data, out: out, objective: objective, weighted: weighted, hyperparameters: alpha)
                .write(to: cfg, atomically: true, encoding: .utf8)
            let result = dir.appendingPathComponent("r\(ranks).json")
            guard let (code, stderr) = try Self.train(ranks: ranks, config: cfg, result: result) else { return }
            #expect(code == 0, "\(objective), \(ranks) ranks: \(stderr)")
            hashes[ranks] = try SHA256.hex(Data(contentsOf: out.appendingPathComponent("model.json")))
            summaries[ranks] = try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result))
            // The refit's payload: every training row's residual (and weight) on every rank.
            if ranks > 1 { #expect(stderr.contains(" gathered="), "\(stderr)") }
        }
        let one = try #require(hashes[1])
        for (ranks, hash) in hashes { #expect(hash == one, "\(objective): model of \(ranks) ranks differs from one process") }
        for (ranks, s) in summaries {
            #expect(s.status == .succeeded, "\(ranks): \(s.message ?? "")")
            #expect(s.metrics == summaries[1]?.metrics)
        }
        let artifact = try ModelArtifact.load(data: Data(contentsOf: dir.appendingPathComponent("out1/model.json")))
        #expect(artifact.objective == objective)
    }

    @Test func aRankThatCannotReadItsShardStopsEveryRank() throws {
        let dir = try makeTempDir("sextant-mpi")
        let data = try Self.writeData(dir, rows: 2_000)
        // A non-numeric value near the end of the file: only the last rank's shard holds it.
        var lines = try String(contentsOf: data, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[1_990] = "1.0,zz" + lines[1_990].drop { $0 != "," }.dropFirst().drop { $0 != "," }
        try lines.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out")
        let cfg = dir.appendingPathComponent("c.yaml")
        try Self.config(data: data, out: out).write(to: cfg, atomically: true, encoding: .utf8)
        let result = dir.appendingPathComponent("r.json")
        guard let (code, stderr) = try Self.train(ranks: 2, config: cfg, result: result) else { return }
        #expect(code == 2, "\(stderr)")
        // Both ranks name the failing rank and the line of the file.
        let named = "rank 1 of 2: data: line 1991: column 'x1': non-numeric value 'zz'"
        #expect(stderr.components(separatedBy: named).count - 1 == 2, "\(stderr)")
        #expect(stderr.contains("sextant-trainer rank 0/2: error:") && stderr.contains("sextant-trainer rank 1/2: error:"))
        let summary = try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result))
        #expect(summary.reason == "BadInput")
        #expect(summary.message?.contains(named) == true)
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func exactSumDoesNotDependOnOrderOrSplit() {
        var rng = SplitMix64(seed: 3)
        let values = (0..<20_000).map { i in rng.nextGaussian() * pow(10, Double(i % 40) - 20) * (i % 7 == 0 ? -1 : 1) }
        var whole = ExactSum()
        for v in values { whole.add(v) }
        var shuffled = values
        shuffled.shuffle(using: &rng)
        var parts = [ExactSum](repeating: ExactSum(), count: 3)
        for (i, v) in shuffled.enumerated() { parts[i % 3].add(v) }
        var merged = parts[2]
        merged.add(parts[0]); merged.add(parts[1])
        #expect(merged.value == whole.value)
        #expect(merged.normalizedLimbs == whole.normalizedLimbs)
        // Cancellation a naive sum gets wrong: 1e16 + 1 - 1e16 = 1.
        var c = ExactSum()
        for v in [1e16, 1, -1e16, 0.5, 5e-324, -5e-324] { c.add(v) }
        #expect(c.value == 1.5)
        var naive = 0.0
        for v in [1e16, 1, -1e16] { naive += v }
        #expect(naive != 1)
    }

    @Test func quantisedGradientsKeepPositiveHessians() {
        let q = GradientQuantiser(maxAbsG: 0.9, maxH: 0.25)
        #expect(q.fixed(h: 1e-16) == 1)
        #expect(q.fixed(h: 0) == 0)
        // Rounded to half a unit of 2^-gBits of the largest |g| (0.9 < 2^0).
        #expect(abs(Double(q.fixed(g: 0.9)) * q.toFloatG - Double(Float(0.9))) <= 0.5 / Double(1 << GradientQuantiser.gBits))
        #expect(q.fixed(g: .infinity) == 1 << GradientQuantiser.gBits && q.fixed(g: .nan) == 0)
        #expect(abs(Int(q.fixed(g: -0.9))) <= 1 << GradientQuantiser.gBits)
        #expect(q.fixed(h: 0.25) <= 1 << GradientQuantiser.hBits)
    }
}
