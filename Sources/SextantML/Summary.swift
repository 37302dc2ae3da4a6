// The result summary the TrainingJob controller reads from the pod's termination message
// (Kubernetes keeps at most 4096 bytes of it), so it is compact and size-capped.
import Foundation
import SextantTrainingContract

public struct ResultSummary: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case succeeded = "Succeeded", gateFailed = "GateFailed", failed = "Failed" }
    public struct Artifact: Codable, Sendable, Equatable {
        public var uri: String
        public var sha256: String
        public var size: Int
    }
    public struct DataInfo: Codable, Sendable, Equatable {
        public var uri: String
        public var version: String?
        public var sha256: String
        public var rows: Int
    }

    public var status: Status
    /// `BadInput`, `GateFailed` or `IOError` when not succeeded.
    public var reason: String?
    public var message: String?
    public var modelName: String?
    public var trainerVersion: String = SextantML.trainerVersion
    public var artifact: Artifact?
    public var metricsUri: String?
    public var data: DataInfo?
    public var algorithm: Algorithm?
    public var hyperparameters: [String: Double]?
    /// Test-set metrics (aucRoc, aucPr, precision, recall, f1, accuracy, logLoss,
    /// expectedCalibrationError) plus cvAucMean / cvAucStd when cross-validation ran.
    public var metrics: [String: Double]?
    public var gates: [GateResult]?
    public var durationSeconds: Double?
    /// ISO 8601 time the run started (kept out of the artifact so that it is reproducible).
    public var createdAt: String?
    /// Set when gate messages or entries were dropped to respect the size limit.
    public var truncated: Bool?
    /// The validation loss per boosting round, at most `ValidationCurveContract.maxPoints` of them.
    public var validationCurve: ValidationCurve?

    /// A run's validation loss per round, downsampled (`ValidationCurveContract`).
    public struct ValidationCurve: Codable, Sendable, Equatable {
        /// `valid-logloss`, `valid-rmse`, ... (the progress line's name).
        public var metric: String
        /// 1-based rounds.
        public var rounds: [Int]
        public var values: [Double]

        /// Every round's loss in, at most `maxPoints` out (six significant digits, so 100 points
        /// take about 1.3 KB of the 4 KiB summary); non-finite losses are left out.
        public init?(metric: String, losses: [Double], maxPoints: Int = ValidationCurveContract.maxPoints) {
            let kept = ValidationCurveContract.rounds(of: losses.count, maxPoints: maxPoints).filter { losses[$0 - 1].isFinite }
            guard !kept.isEmpty else { return nil }
            self.metric = metric
            rounds = kept
            values = kept.map { Double(String(format: "%.6g", losses[$0 - 1])) ?? losses[$0 - 1] }
        }

        /// About half the points, the first and the last kept.
        func halved() -> ValidationCurve {
            var c = self
            let keep = Set(ValidationCurveContract.rounds(of: rounds.count, maxPoints: max(2, rounds.count / 2)))
            c.rounds = rounds.indices.filter { keep.contains($0 + 1) }.map { rounds[$0] }
            c.values = values.indices.filter { keep.contains($0 + 1) }.map { values[$0] }
            return c
        }
    }

    public static let maxBytes = ResultSummaryContract.maxBytes

    public init(status: Status) { self.status = status }

    /// JSON of at most `maxBytes`: thins the validation curve (down to 12 points, then drops it),
    /// then drops gate messages, then passed gates, then the message tail.
    public func encodedCapped() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func enc(_ s: ResultSummary) -> Data { (try? encoder.encode(s)) ?? Data("{\"status\":\"Failed\"}".utf8) }
        var s = self
        var data = enc(s)
        if data.count <= Self.maxBytes { return data }
        s.truncated = true
        while data.count > Self.maxBytes, let curve = s.validationCurve {
            s.validationCurve = curve.rounds.count > 12 ? curve.halved() : nil
            data = enc(s)
        }
        if data.count <= Self.maxBytes { return data }
        s.gates = s.gates?.map { g in var g = g; g.message = ""; return g }
        data = enc(s)
        if data.count <= Self.maxBytes { return data }
        s.gates = s.gates?.filter { !$0.passed }
        s.hyperparameters = nil
        data = enc(s)
        while data.count > Self.maxBytes, let gates = s.gates, !gates.isEmpty {
            s.gates = Array(gates.dropLast())
            data = enc(s)
        }
        if data.count > Self.maxBytes { s.message = s.message.map { String($0.prefix(200)) }; data = enc(s) }
        return data
    }
}
