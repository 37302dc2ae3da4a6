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
    func encode(_ value: JSONValue, feature j: Int, where place: @autoclosure () -> String) throws(ServingError) -> Double {
        let f = features[j]
        switch value {
        case .null: return .nan
        case .int(let i):
            if f.isCategorical { return f.categoryCodes[String(i)].map(Double.init) ?? .nan }
            return Double(i)
        case .double(let d):
            if f.isCategorical { return f.categoryCodes[Self.categoryText(d)].map(Double.init) ?? .nan }
            return d
        case .string(let s):
            // Unknown categories score like missing values: the tree's default direction.
            if f.isCategorical { return f.categoryCodes[s].map(Double.init) ?? .nan }
            throw .bad("\(place()): feature '\(f.name)' is numeric but got the string \"\(s.prefix(40))\"")
        case .bool(let b):
            if f.isCategorical { return f.categoryCodes[b ? "true" : "false"].map(Double.init) ?? .nan }
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

    /// Open Inference Protocol V2 `infer`: either one tensor of shape [rows, features] (any name),
    /// or one tensor per feature named after it with shape [rows] or [rows, 1]. Returns the matrix
    /// and the request `id`, if any.
    public func decodeV2(_ body: JSONValue) throws(ServingError) -> (FeatureMatrix, String?) {
        guard case .object(let o) = body else { throw .bad("request body must be a JSON object with 'inputs'") }
        var requestID: String?
        if let id = o["id"] {
            guard case .string(let s) = id else { throw .bad("'id' must be a string") }
            requestID = s
        }
        guard case .array(let inputs)? = o["inputs"], !inputs.isEmpty else {
            throw .bad("request body needs a non-empty 'inputs' array of tensors")
        }
        var tensors: [V2Tensor] = []
        for (i, input) in inputs.enumerated() { tensors.append(try V2Tensor(input, index: i)) }
        let nf = featureCount
        if tensors.count == 1, !features.contains(where: { $0.name == tensors[0].name }) || nf == 1 && tensors[0].shape.count == 2 {
            let t = tensors[0]
            guard t.shape.count == 2, t.shape[1] == nf else {
                throw .bad("input '\(t.name)' has shape \(t.shape); model '\(name)' expects [rows, \(nf)] or one input per feature \(featureList)")
            }
            let rows = t.shape[0]
            guard rows > 0, rows <= maxBatchRows else { throw .bad("input '\(t.name)': \(rows) rows; allowed 1...\(maxBatchRows)") }
            var values = [Double]()
            values.reserveCapacity(rows * nf)
            for k in 0..<(rows * nf) {
                values.append(try t.value(k, as: self, feature: k % nf))
            }
            return (FeatureMatrix(rows: rows, values: values), requestID)
        }
        // One tensor per feature.
        var byName: [String: V2Tensor] = [:]
        for t in tensors {
            guard features.contains(where: { $0.name == t.name }) else {
                throw .bad("input '\(t.name)' is not a feature of model '\(name)' \(featureList)")
            }
            guard byName[t.name] == nil else { throw .bad("input '\(t.name)' is given twice") }
            byName[t.name] = t
        }
        var rows = -1
        for t in tensors {
            guard t.shape.count == 1 || (t.shape.count == 2 && t.shape[1] == 1) else {
                throw .bad("input '\(t.name)' has shape \(t.shape); a per-feature input has shape [rows] or [rows, 1]")
            }
            if rows == -1 { rows = t.shape[0] } else if rows != t.shape[0] {
                throw .bad("input '\(t.name)' has \(t.shape[0]) rows, other inputs have \(rows)")
            }
        }
        guard rows > 0, rows <= maxBatchRows else { throw .bad("inputs have \(rows) rows; allowed 1...\(maxBatchRows)") }
        // Absent features are missing values, as a sparse client would send.
        var values = [Double](repeating: .nan, count: rows * nf)
        for j in 0..<nf {
            guard let t = byName[features[j].name] else { continue }
            for r in 0..<rows { values[r * nf + j] = try t.value(r, as: self, feature: j) }
        }
        return (FeatureMatrix(rows: rows, values: values), requestID)
    }
}

/// One V2 input tensor with its data flattened (row-major) and checked against its datatype.
struct V2Tensor {
    enum DataType: String {
        case bool = "BOOL", uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
        case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
        case fp16 = "FP16", fp32 = "FP32", fp64 = "FP64", bytes = "BYTES"

        var integerRange: ClosedRange<Int64>? {
            switch self {
            case .int8: return Int64(Int8.min)...Int64(Int8.max)
            case .int16: return Int64(Int16.min)...Int64(Int16.max)
            case .int32: return Int64(Int32.min)...Int64(Int32.max)
            case .int64: return Int64.min...Int64.max
            case .uint8: return 0...Int64(UInt8.max)
            case .uint16: return 0...Int64(UInt16.max)
            case .uint32: return 0...Int64(UInt32.max)
            case .uint64: return 0...Int64.max
            default: return nil
            }
        }
    }

    let name: String
    let shape: [Int]
    let datatype: DataType
    let data: [JSONValue]

    init(_ value: JSONValue, index i: Int) throws(ServingError) {
        guard case .object(let o) = value else { throw .bad("inputs[\(i)] must be an object") }
        guard case .string(let name)? = o["name"] else { throw .bad("inputs[\(i)] needs a string 'name'") }
        self.name = name
        guard case .string(let dt)? = o["datatype"] else { throw .bad("input '\(name)' needs a 'datatype'") }
        guard let datatype = DataType(rawValue: dt) else {
            throw .bad("input '\(name)': unknown datatype '\(dt)' (BOOL, INT8-64, UINT8-64, FP16, FP32, FP64, BYTES)")
        }
        self.datatype = datatype
        guard case .array(let dims)? = o["shape"], !dims.isEmpty, dims.count <= 2 else {
            throw .bad("input '\(name)' needs a 'shape' of 1 or 2 dimensions")
        }
        var shape: [Int] = []
        for d in dims {
            guard let v = d.intValue, v >= 0, v <= Int64(maxBatchRows) * 1000 else {
                throw .bad("input '\(name)': shape \(dims.map { $0.jsonString() }) must hold non-negative integers")
            }
            shape.append(Int(v))
        }
        self.shape = shape
        guard let raw = o["data"] else { throw .bad("input '\(name)' has no 'data'") }
        // Data may be flat or nested like the shape; both are row-major.
        var flat: [JSONValue] = []
        flat.reserveCapacity(shape.reduce(1, *))
        func flatten(_ v: JSONValue) {
            if case .array(let a) = v { for x in a { flatten(x) } } else { flat.append(v) }
        }
        flatten(raw)
        let expected = shape.reduce(1, *)
        guard flat.count == expected else {
            throw .bad("input '\(name)': shape \(shape) needs \(expected) values, data has \(flat.count)")
        }
        data = flat
    }

    /// Element `k` for feature `j`, checked against the declared datatype.
    func value(_ k: Int, as model: ServedModel, feature j: Int) throws(ServingError) -> Double {
        let v = data[k]
        let f = model.features[j]
        if case .null = v { return .nan }
        switch datatype {
        case .bytes:
            guard case .string = v else { throw .bad("input '\(name)' is BYTES but element \(k) is \(v.typeName)") }
            guard f.isCategorical else {
                throw .bad("input '\(name)': BYTES data for numeric feature '\(f.name)'; send FP32/FP64/INT")
            }
        case .bool:
            guard case .bool = v else { throw .bad("input '\(name)' is BOOL but element \(k) is \(v.typeName)") }
        case .fp16, .fp32, .fp64:
            switch v {
            case .int, .double: break
            default: throw .bad("input '\(name)' is \(datatype.rawValue) but element \(k) is \(v.typeName)")
            }
        default:
            guard case .int(let i) = v else {
                throw .bad("input '\(name)' is \(datatype.rawValue) but element \(k) is \(v.typeName)")
            }
            if let range = datatype.integerRange, !range.contains(i) {
                throw .bad("input '\(name)': element \(k) = \(i) is out of range for \(datatype.rawValue)")
            }
        }
        return try model.encode(v, feature: j, where: "input '\(name)' element \(k)")
    }
}
