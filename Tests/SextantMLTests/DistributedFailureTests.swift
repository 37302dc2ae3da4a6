import Foundation
import Testing
@testable import SextantML

/// Issue 20's bad input under Open MPI's real `mpirun` (docs/trainer.md "Training on several
/// ranks", Failures): a rank that cannot read its config, ranks started with different configs or
/// different binaries (MPMD command lines, `mpirun A : B`), and a rank killed mid-training. Every
/// rank must exit (never hang) with the documented code, and nothing is written.
@Suite(.serialized) struct DistributedFailureTests {
    struct Run {
        var code: Int32
        var stderr: String
        var seconds: Double
    }

    static func environment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
        return env
    }

    /// `mpirun --oversubscribe` with one app context per element (`A : B`), each one rank.
    /// A run over `limit` seconds is killed and recorded as a failure (a hang).
    static func mpirun(_ contexts: [[String]], limit: Double = 60,
                       whileRunning: ((Int32, URL) throws -> Void)? = nil) throws -> Run? {
        guard let mpirun = DistributedTrainingTests.mpirun() else { return nil }
        var args = ["--oversubscribe", "--bind-to", "none"]
        for (i, context) in contexts.enumerated() {
            if i > 0 { args.append(":") }
            args += ["-np", "1"] + context
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = args
        p.environment = environment()
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("mpi-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        p.standardError = try FileHandle(forWritingTo: errFile)
        p.standardOutput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        if let whileRunning { try whileRunning(p.processIdentifier, errFile) }
        while p.isRunning, Date().timeIntervalSince(start) < limit { usleep(50_000) }
        if p.isRunning {
            p.terminate()
            Issue.record("mpirun still running after \(limit) s: the ranks hang")
        }
        p.waitUntilExit()
        let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        return Run(code: p.terminationStatus, stderr: stderr, seconds: Date().timeIntervalSince(start))
    }

    func setUp(rows: Int = 2_000) throws -> (dir: URL, config: URL, out: URL, trainer: URL)? {
        guard let trainer = EndToEndTests.trainerBinary() else {
            Issue.record("sextant-trainer is required but not built next to the tests (swift build --build-tests)")
            return nil
        }
        let dir = try makeTempDir("sextant-mpi-fail")
        let data = try DistributedTrainingTests.writeData(dir, rows: rows)
        let out = dir.appendingPathComponent("out")
        let cfg = dir.appendingPathComponent("c.yaml")
        try DistributedTrainingTests.config(data: data, out: out).write(to: cfg, atomically: true, encoding: .utf8)
        return (dir, cfg, out, trainer)
    }

    @Test func aRankThatCannotReadItsConfigStopsEveryRank() throws {
        guard let s = try setUp() else { return }
        let missing = s.dir.appendingPathComponent("missing.yaml").path
        let result = s.dir.appendingPathComponent("r.json")
        guard let run = try Self.mpirun([[s.trainer.path, "--config", s.config.path, "--result-file", result.path],
                                         [s.trainer.path, "--config", missing]]) else { return }
        #expect(run.code == 2, "\(run.stderr)")
        let named = "rank 1 of 2: config: cannot read '\(missing)'"
        #expect(run.stderr.contains("sextant-trainer rank 0/2: error: \(named)"), "\(run.stderr)")
        #expect(run.stderr.contains("sextant-trainer rank 1/2: error: \(named)"), "\(run.stderr)")
        let summary = try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result))
        #expect(summary.reason == "BadInput" && summary.message?.contains(named) == true)
        #expect(!FileManager.default.fileExists(atPath: s.out.path))
    }

    /// Rank 1 runs another binary (a copy of the trainer with one byte appended: it still runs) on
    /// another config (one more tree): one mpirun, both differences named, nothing trained.
    @Test func ranksWithDifferentConfigsOrBinariesRefuseToTrain() throws {
        guard let s = try setUp() else { return }
        let other = s.dir.appendingPathComponent("other.yaml")
        try String(contentsOf: s.config, encoding: .utf8).replacingOccurrences(of: "nEstimators: 6", with: "nEstimators: 7")
            .write(to: other, atomically: true, encoding: .utf8)
        var bytes = try Data(contentsOf: s.trainer)
        bytes.append(0)
        let copy = s.dir.appendingPathComponent("sextant-trainer-other")
        try bytes.write(to: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy.path)
        let result = s.dir.appendingPathComponent("r.json")
        guard let run = try Self.mpirun([[s.trainer.path, "--config", s.config.path, "--result-file", result.path],
                                         [copy.path, "--config", other.path]]) else { return }
        #expect(run.code == 2, "\(run.stderr)")
        for rank in 0..<2 {
            let line = run.stderr.split(separator: "\n").first { $0.contains("sextant-trainer rank \(rank)/2: error: rank 1 of 2: ranks differ:") }
            #expect(line?.contains("sextant-trainer executable (SHA-256") == true && line?.contains(" and config (SHA-256") == true,
                    "rank \(rank): \(run.stderr)")
        }
        #expect(try JSONDecoder().decode(ResultSummary.self, from: Data(contentsOf: result)).reason == "BadInput")
        #expect(!FileManager.default.fileExists(atPath: s.out.path))
    }

    /// SIGKILL to rank 1 while the trees grow: mpirun stops rank 0 and exits non-zero at once
    /// (Open MPI's default), naming the killed rank; rank 0 writes nothing.
    @Test func aRankKilledMidTrainingEndsTheRun() throws {
        guard let s = try setUp(rows: 6_000) else { return }
        // Long enough to be killed mid-training: many small trees.
        try String(contentsOf: s.config, encoding: .utf8).replacingOccurrences(of: "nEstimators: 6", with: "nEstimators: 2000")
            .write(to: s.config, atomically: true, encoding: .utf8)
        let result = s.dir.appendingPathComponent("r.json")
        var killedAt = Date()
        guard let run = try Self.mpirun([[s.trainer.path, "--config", s.config.path, "--result-file", result.path],
                                         [s.trainer.path, "--config", s.config.path]], whileRunning: { mpirun, log in
            // Rank 1 is the child of mpirun whose PMIX_RANK is 1; kill it once it trains.
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let pid = Self.child(of: mpirun, rank: 1), Self.isTraining(log) {
                    kill(pid, SIGKILL)
                    killedAt = Date()
                    return
                }
                usleep(50_000)
            }
            Issue.record("rank 1 never started training")
        }) else { return }
        let after = Date().timeIntervalSince(killedAt)
        #expect(run.code != 0, "\(run.stderr)")
        #expect(after < 30, "mpirun took \(after) s to end the run after rank 1 was killed")
        #expect(run.stderr.contains("rank 1") && run.stderr.lowercased().contains("signal 9"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.out.appendingPathComponent("model.json").path))
        #expect((try? Data(contentsOf: result))?.isEmpty ?? true, "no summary from a killed run")
        print("rank killed: mpirun exit \(run.code) \(String(format: "%.2f", after)) s after SIGKILL")
    }

    /// The pid of `parent`'s child process with `PMIX_RANK=rank` in its environment.
    static func child(of parent: Int32, rank: Int) -> Int32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == parent,
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "PMIX_RANK=\(rank)" }) { return pid }
        }
        return nil
    }

    /// True once rank 0 logged a boosting round (a fixed delay would race on a loaded machine).
    static func isTraining(_ log: URL) -> Bool {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("allreduce=")
    }
}
