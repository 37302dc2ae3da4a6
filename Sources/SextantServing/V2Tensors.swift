// Open Inference Protocol V2 `infer` requests: typed tensors in JSON, or in binary after the JSON
// (Triton's binary tensor data extension), decoded into one row-major feature matrix. Pure
// functions: every bad input becomes a `ServingError` that names what was wrong.
import NIOCore
import SextantJSON

/// A decoded V2 infer request.
public struct V2Request: Sendable {
    public var matrix: FeatureMatrix
    /// The request's `id`, echoed in the response.
    public var id: String?
    /// Send `probability` as binary tensor data (`binary_data_output`, or the output's `binary_data`).
    public var binaryOutput: Bool
    /// `parameters.explain: true`: add the output `contributions` (TreeSHAP, margin space).
    public var explain = false
}

/// Triton's binary tensor data extension: the JSON part is the first `Inference-Header-Content-Length`
/// bytes of the body; each input with `parameters.binary_data_size` takes that many of the bytes
/// after it, in input order. Elements are little-endian, row-major; BYTES elements carry a 4-byte
/// little-endian length prefix.
public enum BinaryTensorData {
    public static let headerLength = "Inference-Header-Content-Length"
    /// Listed in server metadata `extensions`.
    public static let extensionName = "binary_tensor_data"

    /// Splits a body into its JSON part and its binary part (nil without the header).
    static func split(_ body: ByteBuffer, headerLength: String?) throws(ServingError) -> (json: ByteBuffer, binary: ByteBuffer?) {
        guard let headerLength else { return (body, nil) }
        guard let n = Int(headerLength.trimmingCharacters(in: .whitespaces)), n > 0, n <= body.readableBytes else {
            throw .bad("\(Self.headerLength) '\(headerLength.prefix(20))' must be a positive number of bytes no larger than the body (\(body.readableBytes) bytes)")
        }
        let json = body.getSlice(at: body.readerIndex, length: n) ?? body
        let binary = body.getSlice(at: body.readerIndex + n, length: body.readableBytes - n) ?? ByteBuffer()
        return (json, binary)
    }
}

extension ServedModel {
    /// Open Inference Protocol V2 `infer`: either one tensor of shape [rows, features] (any name),
    /// or one tensor per feature named after it with shape [rows] or [rows, 1]. `binary` is the
    /// body after the JSON part when the binary extension is used.
    public func decodeV2(_ body: JSONValue, binary: ByteBuffer? = nil) throws(ServingError) -> V2Request {
        guard case .object(let o) = body else { throw .bad("request body must be a JSON object with 'inputs'") }
        var requestID: String?
        if let id = o["id"] {
            guard case .string(let s) = id else { throw .bad("'id' must be a string, got \(id.typeName)") }
            requestID = s
        }
        let binaryOutput = try Self.outputs(o, model: name, outputName: outputName)
        let explain = try self.explain(o, binaryOutput: binaryOutput)
        guard case .array(let inputs)? = o["inputs"], !inputs.isEmpty else {
            throw .bad("request body needs a non-empty 'inputs' array of tensors")
        }
        var rest = binary
        var tensors: [V2Tensor] = []
        for (i, input) in inputs.enumerated() { tensors.append(try V2Tensor(input, index: i, binary: &rest)) }
        if let rest, rest.readableBytes > 0 {
            throw .bad("\(rest.readableBytes) bytes of binary data after the last input's binary_data_size")
        }
        return V2Request(matrix: try matrix(from: tensors), id: requestID, binaryOutput: binaryOutput, explain: explain)
    }

    /// Decoded tensors into the feature matrix: either one tensor of shape [rows, features] (any
    /// name), or one tensor per feature named after it with shape [rows] or [rows, 1].
    func matrix(from tensors: [V2Tensor]) throws(ServingError) -> FeatureMatrix {
        let nf = featureCount
        if tensors.count == 1, !features.contains(where: { $0.name == tensors[0].name }) || nf == 1 && tensors[0].shape.count == 2 {
            let t = tensors[0]
            guard t.shape.count == 2, t.shape[1] == nf else {
                throw .bad("input '\(t.name)' has shape \(t.shape); model '\(name)' expects [rows, \(nf)] or one input per feature \(featureList)")
            }
            let rows = t.shape[0]
            guard rows > 0, rows <= maxBatchRows else { throw .bad("input '\(t.name)': \(rows) rows; allowed 1...\(maxBatchRows)") }
            var values = [Double](repeating: .nan, count: rows * nf)
            try t.write(into: &values, start: 0, step: 1, model: self) { $0 % nf }
            return FeatureMatrix(rows: rows, values: values)
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
            try t.write(into: &values, start: j, step: nf, model: self) { _ in j }
        }
        return FeatureMatrix(rows: rows, values: values)
    }

    /// `parameters.explain`: true asks for the `contributions` output (JSON only).
    func explain(_ o: [String: JSONValue], binaryOutput: Bool) throws(ServingError) -> Bool {
        guard case .object(let params)? = o["parameters"], let e = params["explain"] else { return false }
        guard case .bool(let flag) = e else { throw .bad("parameters.explain must be true or false, got \(e.jsonString())") }
        guard flag else { return false }
        guard canExplain else {
            throw .bad(cannotExplainMessage)
        }
        guard !binaryOutput else { throw .bad("parameters.explain answers in JSON only; drop binary_data_output / binary_data") }
        return true
    }

    /// Checks `outputs` and the binary flags; returns whether the one output (`outputName`) goes
    /// out as binary.
    static func outputs(_ o: [String: JSONValue], model: String, outputName: String) throws(ServingError) -> Bool {
        var binary = false
        if let p = o["parameters"] {
            guard case .object(let params) = p else { throw .bad("'parameters' must be an object, got \(p.typeName)") }
            if let b = params["binary_data_output"] {
                guard case .bool(let flag) = b else { throw .bad("parameters.binary_data_output must be true or false, got \(b.jsonString())") }
                binary = flag
            }
        }
        guard let requested = o["outputs"] else { return binary }
        guard case .array(let outputs) = requested else { throw .bad("'outputs' must be an array, got \(requested.typeName)") }
        for (i, output) in outputs.enumerated() {
            guard case .object(let out) = output, case .string(let name)? = out["name"] else {
                throw .bad("outputs[\(i)] must be an object with a string 'name'")
            }
            guard name == outputName else {
                throw .bad("unknown output '\(name.prefix(80))'; model '\(model)' has one output, '\(outputName)'")
            }
            if case .object(let params)? = out["parameters"], let b = params["binary_data"] {
                guard case .bool(let flag) = b else { throw .bad("outputs[\(i)].parameters.binary_data must be true or false, got \(b.jsonString())") }
                binary = flag
            }
        }
        return binary
    }
}

/// One V2 input tensor: its JSON data flattened (row-major), or its binary data.
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

        /// Bytes per element in binary form; nil for BYTES (length-prefixed).
        var size: Int? {
            switch self {
            case .bool, .uint8, .int8: return 1
            case .uint16, .int16, .fp16: return 2
            case .uint32, .int32, .fp32: return 4
            case .uint64, .int64, .fp64: return 8
            case .bytes: return nil
            }
        }
    }

    enum Storage {
        case json([JSONValue])
        /// Fixed-size little-endian elements.
        case binary(ByteBuffer)
    }

    let name: String
    let shape: [Int]
    let datatype: DataType
    let storage: Storage
    var count: Int { shape.reduce(1, *) }

    init(name: String, shape: [Int], datatype: DataType, storage: Storage) {
        self.name = name
        self.shape = shape
        self.datatype = datatype
        self.storage = storage
    }

    init(_ value: JSONValue, index i: Int, binary: inout ByteBuffer?) throws(ServingError) {
        guard case .object(let o) = value else { throw .bad("inputs[\(i)] must be an object") }
        guard case .string(let name)? = o["name"] else { throw .bad("inputs[\(i)] needs a string 'name'") }
        self.name = name
        guard case .string(let dt)? = o["datatype"] else { throw .bad("input '\(name)' needs a string 'datatype'") }
        guard let datatype = DataType(rawValue: dt) else {
            throw .bad("input '\(name)': unknown datatype '\(dt.prefix(40))' (BOOL, INT8-64, UINT8-64, FP16, FP32, FP64, BYTES)")
        }
        self.datatype = datatype
        guard case .array(let dims)? = o["shape"], !dims.isEmpty, dims.count <= 2 else {
            throw .bad("input '\(name)' needs a 'shape' of 1 or 2 dimensions")
        }
        var shape: [Int] = []
        for d in dims {
            guard let v = d.intValue, v >= 0, v <= Int64(maxBatchRows) * 1000 else {
                throw .bad("input '\(name)': shape \(JSONValue.array(dims).jsonString()) must hold non-negative integers")
            }
            shape.append(Int(v))
        }
        self.shape = shape
        let expected = shape.reduce(1, *)
        guard expected <= maxBatchRows * 1000 else { throw .bad("input '\(name)': shape \(shape) has more than \(maxBatchRows * 1000) elements") }

        var binarySize: Int?
        if let p = o["parameters"] {
            guard case .object(let params) = p else { throw .bad("input '\(name)': 'parameters' must be an object") }
            if let size = params["binary_data_size"] {
                guard let n = size.intValue, n >= 0 else {
                    throw .bad("input '\(name)': binary_data_size must be a non-negative integer, got \(size.jsonString())")
                }
                binarySize = Int(n)
            }
        }
        if let size = binarySize {
            guard o["data"] == nil else { throw .bad("input '\(name)' has both 'data' and binary_data_size") }
            guard var rest = binary else {
                throw .bad("input '\(name)' has binary_data_size but the request has no \(BinaryTensorData.headerLength) header")
            }
            guard size <= rest.readableBytes, let bytes = rest.readSlice(length: size) else {
                throw .bad("input '\(name)': binary_data_size \(size) but only \(rest.readableBytes) bytes of binary data are left")
            }
            binary = rest
            if let width = datatype.size {
                guard size == expected * width else {
                    throw .bad("input '\(name)': binary_data_size \(size) does not match shape \(shape) of \(dt) (\(expected * width) bytes)")
                }
                storage = .binary(bytes)
            } else {
                storage = .json(try Self.strings(bytes, count: expected, name: name))
            }
            return
        }
        guard let raw = o["data"] else { throw .bad("input '\(name)' has no 'data' (nor binary_data_size)") }
        // Data may be flat or nested like the shape; both are row-major.
        var flat: [JSONValue] = []
        flat.reserveCapacity(expected)
        func flatten(_ v: JSONValue) {
            if case .array(let a) = v { for x in a { flatten(x) } } else { flat.append(v) }
        }
        flatten(raw)
        guard flat.count == expected else {
            throw .bad("input '\(name)': shape \(shape) needs \(expected) values, data has \(flat.count)")
        }
        storage = .json(flat)
    }

    /// BYTES in binary form: each element a 4-byte little-endian length and that many bytes.
    static func strings(_ bytes: ByteBuffer, count: Int, name: String) throws(ServingError) -> [JSONValue] {
        var b = bytes
        var out: [JSONValue] = []
        out.reserveCapacity(count)
        for k in 0..<count {
            guard let length = b.readInteger(endianness: .little, as: UInt32.self) else {
                throw .bad("input '\(name)': BYTES element \(k) has no 4-byte length prefix (binary data ends)")
            }
            guard Int(length) <= b.readableBytes, let s = b.readString(length: Int(length)) else {
                throw .bad("input '\(name)': BYTES element \(k) claims \(length) bytes, \(b.readableBytes) are left")
            }
            out.append(.string(s))
        }
        guard b.readableBytes == 0 else {
            throw .bad("input '\(name)': \(b.readableBytes) bytes left after \(count) BYTES elements")
        }
        return out
    }

    /// Writes element k to `values[start + k * step]` as feature `feature(k)`.
    func write(into values: inout [Double], start: Int, step: Int, model: ServedModel,
               feature: (Int) -> Int) throws(ServingError) {
        let n = count
        switch storage {
        case .json(let data):
            for k in 0..<n { values[start + k * step] = try value(data[k], k, as: model, feature: feature(k)) }
        case .binary(let bytes):
            if datatype == .bytes { throw .bad("input '\(name)': BYTES are never fixed-size") }
            let allNumeric = !model.features.contains(where: \.isCategorical)
            let dt = datatype
            let failure: ServingError? = bytes.withUnsafeReadableBytes { raw -> ServingError? in
                for k in 0..<n {
                    let v: Double
                    switch dt {
                    case .fp64: v = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self)))
                    case .fp32: v = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: k * 4, as: UInt32.self))))
                    case .fp16: v = Self.half(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self)))
                    case .bool:
                        let b = raw[k]
                        guard b <= 1 else { return .bad("input '\(name)' is BOOL but element \(k) is the byte \(b)") }
                        v = Double(b)
                    case .int8: v = Double(Int8(bitPattern: raw[k]))
                    case .uint8: v = Double(raw[k])
                    case .int16: v = Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: k * 2, as: Int16.self)))
                    case .uint16: v = Double(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self)))
                    case .int32: v = Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: k * 4, as: Int32.self)))
                    case .uint32: v = Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: k * 4, as: UInt32.self)))
                    case .int64: v = Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: k * 8, as: Int64.self)))
                    case .uint64: v = Double(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self)))
                    case .bytes: v = .nan
                    }
                    // NaN is a missing value; infinities are refused as in JSON (and by XGBoost).
                    if v.isInfinite { return .bad("input '\(name)': element \(k) is infinite; send NaN for a missing value") }
                    if allNumeric {
                        values[start + k * step] = v
                    } else {
                        let f = model.features[feature(k)]
                        values[start + k * step] = f.isCategorical && !v.isNaN ? f.code(ServedModel.categoryText(v)) : v
                    }
                }
                return nil
            }
            if let failure { throw failure }
        }
    }

    /// IEEE 754 half precision to double.
    static func half(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int((bits >> 10) & 0x1F), fraction = Double(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// A JSON element for feature `j`, checked against the declared datatype.
    func value(_ v: JSONValue, _ k: Int, as model: ServedModel, feature j: Int) throws(ServingError) -> Double {
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
            case .int: break
            case .double(let d) where d.isFinite: break
            case .double: throw .bad("input '\(name)': element \(k) is out of range for \(datatype.rawValue)")
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
        return try model.encode(v, feature: j, booleans: datatype == .bool, where: "input '\(name)' element \(k)")
    }
}
