// Request decoding for KServe V1 (`instances`) and the Open Inference Protocol V2 (typed tensors),
// into one row-major feature matrix. Pure functions: no I/O, every bad input becomes a
// `ServingError` that names what was wrong.
import Foundation
import SextantJSON

/// A request the server refuses; `status` is the HTTP code, `message` names the problem.
public struct ServingError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { "\(status): \(message)" }
    static func bad(_ message: String) -> ServingError { ServingError(400, message) }
}

/// Rows to score: `rows * featureCount` values, row-major, NaN = missing.
public struct FeatureMatrix: Sendable, Equatable {
    public var rows: Int
    public var values: [Double]
}

/// Largest batch accepted in one request (bounds the work one request can ask for).
public let maxBatchRows = 100_000

public enum InferenceProtocol: String, Sendable { case v1, v2 }

extension ServedModel {
    /// Encodes one JSON scalar for feature `j`.
    /// Numbers must be finite (JSON `1e400` overflows to infinity); `true`/`false` are numbers only
    /// in a V2 BOOL tensor (`booleans`), as JSON has no boolean numbers.
    func encode(_ value: JSONValue, feature j: Int, booleans: Bool = false,
                where place: @autoclosure () -> String) throws(ServingError) -> Double {
        let f = features[j]
        switch value {
        case .null: return .nan
        case .int(let i):
            if f.isCategorical { return f.code(String(i)) }
            return Double(i)
        case .double(let d):
            guard d.isFinite else {
                throw .bad("\(place()): feature '\(f.name)' got a number too large for a 64-bit float")
            }
            if f.isCategorical { return f.code(Self.categoryText(d)) }
            return d
        case .string(let s):
            if f.isCategorical { return f.code(s) }
            throw .bad("\(place()): feature '\(f.name)' is numeric but got the string \"\(s.prefix(40))\"")
        case .bool(let b):
            if f.isCategorical { return f.code(b ? "true" : "false") }
            guard booleans else { throw .bad("\(place()): feature '\(f.name)' is numeric but got \(b)") }
            return b ? 1 : 0
        case .array, .object:
            throw .bad("\(place()): feature '\(f.name)' must be a number\(f.isCategorical ? " or string" : ""), got \(value.typeName)")
        }
    }

    static func categoryText(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }

    /// KServe V1: `{"instances": [[f0, f1, ...], ...]}` or `{"instances": [{"name": value, ...}, ...]}`.
    public func decodeV1(_ body: JSONValue) throws(ServingError) -> FeatureMatrix {
        guard case .object(let o) = body else { throw .bad("request body must be a JSON object with 'instances'") }
        guard let instancesValue = o["instances"] ?? o["inputs"] else {
            throw .bad("request body has no 'instances' field")
        }
        guard case .array(let instances) = instancesValue else {
            throw .bad("'instances' must be an array of rows, got \(instancesValue.typeName)")
        }
        guard !instances.isEmpty else { throw .bad("'instances' is empty") }
        guard instances.count <= maxBatchRows else { throw .bad("'instances' has \(instances.count) rows; the limit is \(maxBatchRows)") }
        let nf = featureCount
        var values = [Double]()
        values.reserveCapacity(instances.count * nf)
        for (r, row) in instances.enumerated() {
            switch row {
            case .array(let cells):
                guard cells.count == nf else {
                    throw .bad("instances[\(r)] has \(cells.count) features; model '\(name)' expects \(nf) (\(featureList))")
                }
                for j in 0..<nf { values.append(try encode(cells[j], feature: j, where: "instances[\(r)][\(j)]")) }
            case .object(let named):
                for key in named.keys where !features.contains(where: { $0.name == key }) {
                    throw .bad("instances[\(r)]: unknown feature '\(key)'; model '\(name)' has \(featureList)")
                }
                for j in 0..<nf {
                    values.append(try encode(named[features[j].name] ?? .null, feature: j, where: "instances[\(r)]"))
                }
            default:
                throw .bad("instances[\(r)] must be an array of feature values or an object by feature name, got \(row.typeName)")
            }
        }
        return FeatureMatrix(rows: instances.count, values: values)
    }

    var featureList: String {
        let names = features.prefix(8).map(\.name).joined(separator: ", ")
        return features.count > 8 ? "[\(names), ...]" : "[\(names)]"
    }
}
