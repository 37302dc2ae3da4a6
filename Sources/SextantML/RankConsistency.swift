// Before any other collective operation, the ranks of a run check that they run the same
// program on the same config (docs/trainer.md "Training on several ranks"): ranks that disagree
// would call different sequences of collectives and hang or mix data. The check is the first
// collective of every distributed run and only uses `broadcast` and `agree`, which keeps it a
// stable first step for later versions too.
import Foundation

enum RankConsistency {
    /// What must be equal on every rank: the SHA-256 of the running executable and of the config
    /// (canonical JSON; `hyperparameters.threads` left out: threads per rank do not change the model).
    struct Fingerprint: Codable, Equatable {
        var executable: String
        var config: String
    }

    static func fingerprint(_ config: TrainingConfig, executable: String = "/proc/self/exe") throws -> Fingerprint {
        var canonical = config
        canonical.hyperparameters?.threads = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let configHash = try SHA256.hex(try encoder.encode(canonical))
        guard let program = FileManager.default.contents(atPath: executable) else {
            throw TrainerError.io("cannot read this program (\(executable)) to compare it with the other ranks'")
        }
        return Fingerprint(executable: try SHA256.hex(program), config: configHash)
    }

    /// Throws on every rank when any rank's fingerprint differs from rank 0's, naming the ranks
    /// and what differs (bad input, exit 2: the job was started wrongly, not an I/O failure).
    static func check(_ config: TrainingConfig, collective c: any Collective) async throws {
        guard c.isDistributed else { return }
        let mine: Fingerprint? = try? fingerprint(config)
        // A rank that cannot compute its fingerprint still takes part in the broadcast.
        let reference: Fingerprint = try c.broadcast(c.rank == 0 ? (mine ?? Fingerprint(executable: "", config: "")) : nil)
        try await c.agree {
            guard let mine else { _ = try fingerprint(config); return }
            var differs: [String] = []
            if mine.executable != reference.executable {
                differs.append("sextant-trainer executable (SHA-256 \(mine.executable.prefix(12))… here, \(reference.executable.prefix(12))… on rank 0)")
            }
            if mine.config != reference.config {
                differs.append("config (SHA-256 \(mine.config.prefix(12))… here, \(reference.config.prefix(12))… on rank 0; --config, --data and --output must be the same on every rank)")
            }
            if !differs.isEmpty {
                throw TrainerError.badInput("ranks differ: " + differs.joined(separator: " and ") + "; every rank must run the same binary on the same config")
            }
        }
    }
}
