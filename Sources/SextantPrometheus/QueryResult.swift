import Foundation

/// The result of an instant query, in the four shapes the Prometheus HTTP API knows.
public enum QueryResult: Sendable, Equatable {
    /// An instant vector: one sample per series (empty when nothing matched).
    case vector([Sample])
    /// A scalar, e.g. `1+1` or `scalar(...)`, with its evaluation time (Unix seconds).
    case scalar(Double, at: Double)
    /// A range vector, e.g. `metric[1m]`.
    case matrix([Series])
    /// A string literal, e.g. `"abc"`.
    case string(String, at: Double)

    /// Prometheus' name for the shape (`vector`, `scalar`, `matrix`, `string`).
    public var resultType: String {
        switch self {
        case .vector: return "vector"
        case .scalar: return "scalar"
        case .matrix: return "matrix"
        case .string: return "string"
        }
    }
}

/// One sample of an instant vector.
public struct Sample: Sendable, Equatable {
    public var labels: [String: String]
    /// Unix seconds.
    public var timestamp: Double
    public var value: Double

    public init(labels: [String: String], timestamp: Double, value: Double) {
        self.labels = labels
        self.timestamp = timestamp
        self.value = value
    }
}

/// One series of a range vector.
public struct Series: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var timestamp: Double
        public var value: Double
        public init(timestamp: Double, value: Double) {
            self.timestamp = timestamp
            self.value = value
        }
    }

    public var labels: [String: String]
    public var points: [Point]

    public init(labels: [String: String], points: [Point]) {
        self.labels = labels
        self.points = points
    }
}

/// A query result with the warnings Prometheus sent beside it (e.g. "PromQL info: metric might
/// not be a counter" or partial-response warnings from Thanos).
public struct QueryResponse: Sendable, Equatable {
    public var result: QueryResult
    public var warnings: [String]

    public init(result: QueryResult, warnings: [String] = []) {
        self.result = result
        self.warnings = warnings
    }
}

/// The one number a canary step or retrain trigger compares against its threshold.
public enum SingleValue: Sendable, Equatable {
    /// One sample or a scalar. NaN stays NaN (e.g. `0/0` when no requests arrived); the caller
    /// decides what that means.
    case value(Double)
    /// The query matched no series.
    case noData

    public var value: Double? {
        if case .value(let v) = self { return v }
        return nil
    }
}
