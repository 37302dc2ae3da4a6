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

    public static let maxBytes = ResultSummaryContract.maxBytes

    public init(status: Status) { self.status = status }

    /// JSON of at most `maxBytes`: drops gate messages, then passed gates, then the message tail.
    public func encodedCapped() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func enc(_ s: ResultSummary) -> Data { (try? encoder.encode(s)) ?? Data("{\"status\":\"Failed\"}".utf8) }
        var s = self
        var data = enc(s)
        if data.count <= Self.maxBytes { return data }
        s.truncated = true
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
