// What every transport (HTTP/JSON, HTTP/binary, gRPC) shares: the one predict path (score, count,
// watch drift, remember for feedback), the request accounting, the server and model descriptions,
// and typed tensors decoded into the feature matrix. The transports only translate.
import NIOCore
import SextantJSON

/// Scores of one request and the id that feedback labels name.
public struct Prediction: Sendable {
    public var probabilities: [Double]
    public var predictionID: String
}

extension ServingState {
    /// The one predict path: scores `matrix`, counts the predictions by class, adds the rows to the
    /// drift window and records the scores for feedback under a new prediction id.
    public func predict(_ matrix: FeatureMatrix, with loaded: LoadedModel) -> Prediction {
        let probabilities = loaded.model.predict(matrix.values, rows: matrix.rows)
        // One score per row (a multiclass model's probabilities are K per row).
        let scores = loaded.model.rowScores(probabilities, rows: matrix.rows)
        // Class counts at the threshold exist for binary classifiers only.
        if loaded.model.isBinaryClassifier { metrics.predictions(scores, threshold: loaded.model.threshold) }
        loaded.drift?.observe(matrix.values, rows: matrix.rows)
        return Prediction(probabilities: probabilities, predictionID: loaded.feedback.record(scores))
    }

    /// Runs one inference request under the in-flight gauge and counts it with its latency.
    /// `code` is the HTTP status code of the outcome (gRPC maps its status to one, see
    /// `ServingError.grpcCode`) so that one `code` label serves every protocol.
    public func account<R>(protocol proto: String, _ body: () async -> (R, code: Int)) async -> R {
        let start = ContinuousClock.now
        metrics.inFlight.increment()
        let (result, code) = await body()
        metrics.inFlight.decrement()
        metrics.request(protocol: proto, code: code, duration: ContinuousClock.now - start)
        return result
    }

    /// The model named in a request, checked against the one served; the error is a 404 naming it.
    public func checkModel(_ name: some StringProtocol, version: (some StringProtocol)?) throws(ServingError) {
        guard name == self.name else {
            throw ServingError(404, "model '\(name.prefix(200))' not found; this server serves '\(self.name)'")
        }
        if let version, !version.isEmpty, version != self.version {
            throw ServingError(404, "model '\(name)' has no version '\(version.prefix(200))'; this server serves version '\(self.version)'")
        }
    }

    /// The loaded model, or a 503 naming the model that is still loading.
    public func requireLoaded() throws(ServingError) -> LoadedModel {
        guard let loaded else { throw ServingError(503, "model '\(name)' is not loaded yet") }
        return loaded
    }
}

/// Server metadata, the same over HTTP (`GET /v2`) and gRPC (`ServerMetadata`).
public enum ServerDescription {
    public static let name = "sextant-server"
    public static let version = "0.1.0"
    public static let extensions = [BinaryTensorData.extensionName]
}

/// One tensor as model metadata lists it.
public struct TensorDescription: Sendable, Equatable {
    public var name: String
    public var datatype: String
    public var shape: [Int64]
}

/// Model metadata, the same over HTTP (`GET /v2/models/NAME`) and gRPC (`ModelMetadata`).
public struct ModelDescription: Sendable, Equatable {
    public var name: String
    public var versions: [String]
    public var platform: String
    public var inputs: [TensorDescription]
    public var outputs: [TensorDescription]

    public init(state: ServingState, model: ServedModel) {
        name = state.name
        versions = [state.version]
        platform = switch model.format {
        case .sextant: "sextant"
        case .xgboost: "xgboost_json"
        case .lightgbm: "lightgbm_text"
        }
        inputs = model.features.map { TensorDescription(name: $0.name, datatype: $0.isCategorical ? "BYTES" : "FP64", shape: [-1]) }
        outputs = [TensorDescription(name: model.outputName, datatype: "FP64",
                                     shape: model.outputShape(rows: -1).map { Int64($0) })]
    }

    var json: JSONValue {
        func tensors(_ t: [TensorDescription]) -> JSONValue {
            .array(t.map { .object(["name": .string($0.name), "datatype": .string($0.datatype), "shape": .array($0.shape.map { .int($0) })]) })
        }
        return .object(["name": .string(name), "versions": .array(versions.map { .string($0) }),
                        "platform": .string(platform), "inputs": tensors(inputs), "outputs": tensors(outputs)])
    }
}

/// A V2 input tensor from a transport that carries it typed (gRPC's `InferTensorContents`) or raw
/// (gRPC's `raw_input_contents`, laid out like the binary tensor extension).
public struct TypedTensor: Sendable {
    public enum Contents: Sendable {
        /// Little-endian, row-major elements; BYTES elements with a 4-byte length prefix.
        case raw(ByteBuffer)
        case bools([Bool])
        /// INT8, INT16, INT32 (`int_contents`) and INT64 (`int64_contents`).
        case ints([Int64], field: String)
        /// UINT8, UINT16, UINT32 (`uint_contents`) and UINT64 (`uint64_contents`).
        case uints([UInt64], field: String)
        case fp32([Float])
        case fp64([Double])
        case bytes([[UInt8]])
        /// No contents at all.
        case none
    }

    public var name: String
    public var datatype: String
    public var shape: [Int64]
    public var contents: Contents

    public init(name: String, datatype: String, shape: [Int64], contents: Contents) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self.contents = contents
    }
}

extension ServedModel {
    /// Typed tensors into the feature matrix, by the same rules as V2 JSON (one [rows, features]
    /// tensor, or one tensor per feature).
    public func decodeTyped(_ inputs: [TypedTensor]) throws(ServingError) -> FeatureMatrix {
        guard !inputs.isEmpty else { throw .bad("the request has no inputs") }
        var tensors: [V2Tensor] = []
        tensors.reserveCapacity(inputs.count)
        for t in inputs { tensors.append(try V2Tensor(typed: t)) }
        return try matrix(from: tensors)
    }
}

extension V2Tensor {
    init(typed t: TypedTensor) throws(ServingError) {
        let name = t.name
        guard let datatype = DataType(rawValue: t.datatype) else {
            throw .bad("input '\(name)': unknown datatype '\(t.datatype.prefix(40))' (BOOL, INT8-64, UINT8-64, FP16, FP32, FP64, BYTES)")
        }
        guard !t.shape.isEmpty, t.shape.count <= 2 else {
            throw .bad("input '\(name)': shape \(t.shape) must have 1 or 2 dimensions")
        }
        guard t.shape.allSatisfy({ $0 >= 0 && $0 <= Int64(maxBatchRows) * 1000 }) else {
            throw .bad("input '\(name)': shape \(t.shape) must hold non-negative integers")
        }
        let shape = t.shape.map { Int($0) }
        let expected = shape.reduce(1, *)
        guard expected <= maxBatchRows * 1000 else { throw .bad("input '\(name)': shape \(shape) has more than \(maxBatchRows * 1000) elements") }
        let dt = datatype.rawValue

        func count(_ n: Int, _ field: String) throws(ServingError) {
            guard n == expected else {
                throw .bad("input '\(name)': shape \(shape) needs \(expected) values, contents.\(field) has \(n)")
            }
        }
        func wrongField(_ field: String) -> ServingError {
            .bad("input '\(name)': datatype \(dt) does not take contents.\(field); \(Self.contentsField(datatype))")
        }
        /// Writes checked integers as the datatype's little-endian elements (the binary path reads them).
        func integers<T: FixedWidthInteger>(_ values: some Collection<T>, _ field: String) throws(ServingError) -> ByteBuffer {
            guard let width = datatype.size, datatype.integerRange != nil else { throw wrongField(field) }
            try count(values.count, field)
            var out = ByteBuffer()
            out.reserveCapacity(values.count * width)
            for (k, v) in values.enumerated() {
                let ok: Bool
                switch datatype {
                case .int8: ok = Int8(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .int16: ok = Int16(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .int32: ok = Int32(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .int64: ok = Int64(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .uint8: ok = UInt8(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .uint16: ok = UInt16(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .uint32: ok = UInt32(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                case .uint64: ok = UInt64(exactly: v).map { out.writeInteger($0, endianness: .little); return true } ?? false
                default: ok = false
                }
                guard ok else { throw .bad("input '\(name)': contents.\(field)[\(k)] = \(v) is out of range for \(dt)") }
            }
            return out
        }

        let storage: Storage
        switch t.contents {
        case .none:
            throw .bad("input '\(name)' has no contents (\(Self.contentsField(datatype)), or raw_input_contents for every input)")
        case .raw(let bytes):
            if let width = datatype.size {
                guard bytes.readableBytes == expected * width else {
                    throw .bad("input '\(name)': raw_input_contents has \(bytes.readableBytes) bytes; shape \(shape) of \(dt) needs \(expected * width)")
                }
                storage = .binary(bytes)
            } else {
                storage = .json(try Self.strings(bytes, count: expected, name: name))
            }
        case .bools(let values):
            guard datatype == .bool else { throw wrongField("bool_contents") }
            try count(values.count, "bool_contents")
            var out = ByteBuffer()
            for v in values { out.writeInteger(v ? 1 : 0, as: UInt8.self) }
            storage = .binary(out)
        case .ints(let values, let field):
            guard datatype == .int64 ? field == "int64_contents" : field == "int_contents" else { throw wrongField(field) }
            storage = .binary(try integers(values, field))
        case .uints(let values, let field):
            guard datatype == .uint64 ? field == "uint64_contents" : field == "uint_contents" else { throw wrongField(field) }
            storage = .binary(try integers(values, field))
        case .fp32(let values):
            guard datatype == .fp32 else { throw wrongField("fp32_contents") }
            try count(values.count, "fp32_contents")
            var out = ByteBuffer()
            out.reserveCapacity(values.count * 4)
            for v in values { out.writeInteger(v.bitPattern, endianness: .little) }
            storage = .binary(out)
        case .fp64(let values):
            guard datatype == .fp64 else { throw wrongField("fp64_contents") }
            try count(values.count, "fp64_contents")
            var out = ByteBuffer()
            out.reserveCapacity(values.count * 8)
            for v in values { out.writeInteger(v.bitPattern, endianness: .little) }
            storage = .binary(out)
        case .bytes(let values):
            guard datatype == .bytes else { throw wrongField("bytes_contents") }
            try count(values.count, "bytes_contents")
            var strings: [JSONValue] = []
            strings.reserveCapacity(values.count)
            for (k, v) in values.enumerated() {
                guard let s = String(validating: v, as: UTF8.self) else {
                    throw .bad("input '\(name)': contents.bytes_contents[\(k)] is not UTF-8")
                }
                strings.append(.string(s))
            }
            storage = .json(strings)
        }
        self.init(name: name, shape: shape, datatype: datatype, storage: storage)
    }

    /// Which typed contents field a datatype takes (gRPC's `InferTensorContents`).
    static func contentsField(_ datatype: DataType) -> String {
        switch datatype {
        case .bool: return "send bool_contents"
        case .int8, .int16, .int32: return "send int_contents"
        case .int64: return "send int64_contents"
        case .uint8, .uint16, .uint32: return "send uint_contents"
        case .uint64: return "send uint64_contents"
        case .fp32: return "send fp32_contents"
        case .fp64: return "send fp64_contents"
        case .bytes: return "send bytes_contents"
        case .fp16: return "FP16 has no typed field: send raw_input_contents"
        }
    }
}
