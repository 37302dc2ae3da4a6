// sextant-trainer: the program TrainingJob pods run. Thin wrapper over SextantML.Trainer.
import ArgumentParser
import Foundation
import SextantML
import SextantMPI
import SextantRevision
import SextantVersion

/// Exit codes (docs/trainer.md): the controller tells input errors from gate failures by these.
enum TrainerExit {
    static let success: Int32 = 0
    static let ioError: Int32 = 1
    static let badInput: Int32 = 2
    static let gateFailed: Int32 = 3
}

@main
struct TrainerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sextant-trainer",
        abstract: "Train, evaluate and gate a binary classifier; write a sextant-model/v1 artifact.",
        discussion: "Exit codes: 0 success, 1 I/O error, 2 bad input (config or data), 3 a gate failed.",
        version: SextantVersion.description)

    @Option(name: .long, help: "Training config (YAML or JSON); '-' reads standard input.")
    var config: String

    @Option(name: .long, help: "Data URI, overrides data.uri.")
    var data: String?

    @Option(name: .long, help: "Output directory URI, overrides output.uri.")
    var output: String?

    @Option(name: .customLong("result-file"), help: "Where to write the JSON result summary (default /dev/termination-log when present).")
    var resultFile: String?

    @Option(name: .long, help: "Worker threads, overrides hyperparameters.threads (0 = all cores).")
    var threads: Int?

    @Flag(name: .long, help: "No progress output on stderr.")
    var quiet = false

    func run() async throws {
        // Started by mpirun (or an MPIJob's launcher): one rank of a data-parallel run. Otherwise
        // an ordinary single process; MPI is not initialised at all.
        var mpi: MPICollective?
        if MPICollective.launchedByMPI() {
            do { mpi = try MPICollective() } catch {
                FileHandle.standardError.write(Data("sextant-trainer: error: \(error)\n".utf8))
                throw ExitCode(TrainerExit.ioError)
            }
        }
        let collective: any Collective = mpi ?? SingleProcess()
        let code = await train(collective)
        mpi?.finalize()
        if code != 0 { throw ExitCode(code) }
    }

    func train(_ collective: any Collective) async -> Int32 {
        let quiet = self.quiet
        let started = Date()
        let rank = collective.isDistributed ? " rank \(collective.rank)/\(collective.size)" : ""
        let log: @Sendable (String) -> Void = { line in
            if quiet { return }
            let elapsed = String(format: "%7.2f", Date().timeIntervalSince(started))
            FileHandle.standardError.write(Data("[sextant-trainer \(elapsed)s] \(line)\n".utf8))
        }
        var summary: ResultSummary
        var code: Int32
        do {
            // Agreed: a rank that cannot read or parse its config stops every rank with its
            // message, instead of leaving the others waiting in the first collective.
            let cfg = try await collective.agree {
                var cfg = try loadConfig()
                if let data { cfg.data.uri = data }
                if let output { cfg.output = .init(uri: output) }
                if let threads {
                    var h = cfg.hyperparameters ?? .init()
                    h.threads = threads
                    cfg.hyperparameters = h
                }
                return cfg
            }
            let outcome = try await Trainer.run(cfg, collective: collective, log: log)
            summary = outcome.summary
            code = summary.status == .succeeded ? TrainerExit.success : TrainerExit.gateFailed
            if collective.rank == 0 {
                if let message = summary.message { log(message) }
                log("status \(summary.status.rawValue); artifact \(summary.artifact?.uri ?? "-")")
            }
        } catch let error as TrainerError {
            summary = ResultSummary(status: .failed)
            summary.message = error.message
            switch error.kind {
            case .badInput: summary.reason = "BadInput"; code = TrainerExit.badInput
            case .gateFailed: summary.reason = "GateFailed"; code = TrainerExit.gateFailed
            case .io: summary.reason = "IOError"; code = TrainerExit.ioError
            }
            FileHandle.standardError.write(Data("sextant-trainer\(rank): error: \(error.message)\n".utf8))
        } catch {
            summary = ResultSummary(status: .failed)
            summary.reason = "IOError"
            summary.message = "\(error)"
            code = TrainerExit.ioError
            FileHandle.standardError.write(Data("sextant-trainer\(rank): error: \(error)\n".utf8))
        }
        // One summary per run: rank 0's (every rank ends with the same status and exit code).
        if collective.rank == 0 { writeSummary(summary.encodedCapped()) }
        return code
    }

    func loadConfig() throws -> TrainingConfig {
        let text: String
        if config == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let d = FileManager.default.contents(atPath: config) else {
                throw TrainerError.badInput("config: cannot read '\(config)'")
            }
            text = String(decoding: d, as: UTF8.self)
        }
        return try TrainingConfig.parse(yaml: text)
    }

    func writeSummary(_ data: Data) {
        let path = resultFile ?? (FileManager.default.isWritableFile(atPath: "/dev/termination-log") ? "/dev/termination-log" : nil)
        guard let path else {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        do {
            // Not atomic: /dev/termination-log is a file Kubernetes mounts, it cannot be replaced.
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            FileHandle.standardError.write(Data("sextant-trainer: cannot write result summary to \(path): \(error)\n".utf8))
        }
    }
}
