// The Open Inference Protocol V2 over gRPC (`inference.GRPCInferenceService`): translates the
// protobuf messages to and from SextantServing's transport-neutral types and takes the same
// predict path as HTTP (`ServingState.predict`): one model, one set of metrics, one feedback store.
import Foundation
import GRPCCore
import NIOCore
import SextantServing
import SwiftProtobuf

/// The gRPC service; its errors are `RPCError`s whose message names the offending field.
struct InferenceGRPCService: Inference_GRPCInferenceService.SimpleServiceProtocol {
    let state: ServingState
    /// The `protocol` label of `sextant_requests_total` and the latency histogram.
    static let protocolLabel = "grpc"

    init(state: ServingState) { self.state = state }

    func serverLive(request: Inference_ServerLiveRequest, context: ServerContext) async throws -> Inference_ServerLiveResponse {
        .with { $0.live = true }
    }

    func serverReady(request: Inference_ServerReadyRequest, context: ServerContext) async throws -> Inference_ServerReadyResponse {
        .with { $0.ready = state.loaded != nil }
    }

    func modelReady(request: Inference_ModelReadyRequest, context: ServerContext) async throws -> Inference_ModelReadyResponse {
        try Self.rethrow { () throws(ServingError) in try state.checkModel(request.name, version: request.version) }
        return .with { $0.ready = state.loaded != nil }
    }

    func serverMetadata(request: Inference_ServerMetadataRequest, context: ServerContext) async throws -> Inference_ServerMetadataResponse {
        .with {
            $0.name = ServerDescription.name
            $0.version = ServerDescription.version
            $0.extensions = ServerDescription.extensions
        }
    }

    func modelMetadata(request: Inference_ModelMetadataRequest, context: ServerContext) async throws -> Inference_ModelMetadataResponse {
        let loaded = try Self.rethrow { () throws(ServingError) in
            try state.checkModel(request.name, version: request.version)
            return try state.requireLoaded()
        }
        let d = ModelDescription(state: state, model: loaded.model)
        func tensors(_ t: [TensorDescription]) -> [Inference_ModelMetadataResponse.TensorMetadata] {
            t.map { t in .with { $0.name = t.name; $0.datatype = t.datatype; $0.shape = t.shape } }
        }
        return .with {
            $0.name = d.name
            $0.versions = d.versions
            $0.platform = d.platform
            $0.inputs = tensors(d.inputs)
            $0.outputs = tensors(d.outputs)
        }
    }

    func modelInfer(request: Inference_ModelInferRequest, context: ServerContext) async throws -> Inference_ModelInferResponse {
        let result: Result<Inference_ModelInferResponse, ServingError> = await state.account(protocol: Self.protocolLabel) {
            do throws(ServingError) {
                return (.success(try infer(request)), 200)
            } catch {
                return (.failure(error), error.status)
            }
        }
        return try Self.rethrow { () throws(ServingError) in try result.get() }
    }

    func infer(_ request: Inference_ModelInferRequest) throws(ServingError) -> Inference_ModelInferResponse {
        try state.checkModel(request.modelName, version: request.modelVersion)
        let loaded = try state.requireLoaded()
        let outputName = loaded.model.outputName
        for (i, output) in request.outputs.enumerated() where output.name != outputName {
            throw ServingError(400, "outputs[\(i)]: unknown output '\(output.name.prefix(80))'; model '\(state.name)' has one output, '\(outputName)'")
        }
        let raw = !request.rawInputContents.isEmpty
        let matrix = try loaded.model.decodeTyped(try Self.tensors(request))
        let prediction = state.predict(matrix, with: loaded)

        var output = Inference_ModelInferResponse.InferOutputTensor()
        output.name = outputName
        output.datatype = "FP64"
        // [rows] or, for a multiclass model, [rows, classes]: the same shape as over HTTP.
        output.shape = loaded.model.outputShape(rows: matrix.rows).map { Int64($0) }
        var response = Inference_ModelInferResponse()
        response.modelName = state.name
        response.modelVersion = state.version
        response.id = request.id.isEmpty ? prediction.predictionID : request.id
        response.parameters["prediction_id"] = .with { $0.stringParam = prediction.predictionID }
        // Raw in, raw out (as KServe and Triton answer tritonclient); typed in, typed out.
        if raw {
            var bytes = Data(count: prediction.probabilities.count * 8)
            bytes.withUnsafeMutableBytes { out in
                for (k, p) in prediction.probabilities.enumerated() {
                    out.storeBytes(of: p.bitPattern.littleEndian, toByteOffset: k * 8, as: UInt64.self)
                }
            }
            response.rawOutputContents = [bytes]
        } else {
            output.contents.fp64Contents = prediction.probabilities
        }
        response.outputs = [output]
        return response
    }

    /// The request's inputs as typed tensors: `raw_input_contents` (one entry per input) or each
    /// input's one `contents` field, never both.
    static func tensors(_ request: Inference_ModelInferRequest) throws(ServingError) -> [TypedTensor] {
        let raw = request.rawInputContents
        if !raw.isEmpty, raw.count != request.inputs.count {
            throw ServingError(400, "raw_input_contents has \(raw.count) entries for \(request.inputs.count) inputs; give one per input, in input order")
        }
        var out: [TypedTensor] = []
        out.reserveCapacity(request.inputs.count)
        for (i, input) in request.inputs.enumerated() {
            let given = presentFields(input.contents)
            let contents: TypedTensor.Contents
            if !raw.isEmpty {
                guard given.isEmpty else {
                    throw ServingError(400, "input '\(input.name)' has contents.\(given[0]) and raw_input_contents; use one")
                }
                contents = .raw(ByteBuffer(bytes: raw[i]))
            } else {
                guard given.count <= 1 else {
                    throw ServingError(400, "input '\(input.name)' has contents.\(given.joined(separator: " and contents.")); use the one field of its datatype")
                }
                let c = input.contents
                switch given.first {
                case "bool_contents": contents = .bools(c.boolContents)
                case "int_contents": contents = .ints(c.intContents.map(Int64.init), field: "int_contents")
                case "int64_contents": contents = .ints(c.int64Contents, field: "int64_contents")
                case "uint_contents": contents = .uints(c.uintContents.map(UInt64.init), field: "uint_contents")
                case "uint64_contents": contents = .uints(c.uint64Contents, field: "uint64_contents")
                case "fp32_contents": contents = .fp32(c.fp32Contents)
                case "fp64_contents": contents = .fp64(c.fp64Contents)
                case "bytes_contents": contents = .bytes(c.bytesContents.map { [UInt8]($0) })
                default: contents = .none
                }
            }
            out.append(TypedTensor(name: input.name, datatype: input.datatype, shape: input.shape, contents: contents))
        }
        return out
    }

    /// The typed contents fields that hold values.
    static func presentFields(_ c: Inference_InferTensorContents) -> [String] {
        var fields: [String] = []
        if !c.boolContents.isEmpty { fields.append("bool_contents") }
        if !c.intContents.isEmpty { fields.append("int_contents") }
        if !c.int64Contents.isEmpty { fields.append("int64_contents") }
        if !c.uintContents.isEmpty { fields.append("uint_contents") }
        if !c.uint64Contents.isEmpty { fields.append("uint64_contents") }
        if !c.fp32Contents.isEmpty { fields.append("fp32_contents") }
        if !c.fp64Contents.isEmpty { fields.append("fp64_contents") }
        if !c.bytesContents.isEmpty { fields.append("bytes_contents") }
        return fields
    }

    /// Runs `body`, turning a `ServingError` into the gRPC status of the same meaning.
    static func rethrow<T>(_ body: () throws(ServingError) -> T) throws(RPCError) -> T {
        do throws(ServingError) { return try body() } catch {
            throw RPCError(code: grpcCode(httpStatus: error.status), message: error.message)
        }
    }

    /// The gRPC status for the HTTP status HTTP would answer with (one table for both transports).
    static func grpcCode(httpStatus: Int) -> RPCError.Code {
        switch httpStatus {
        case 400, 422: return .invalidArgument
        case 404: return .notFound
        case 413: return .resourceExhausted
        case 503: return .unavailable
        default: return .internalError
        }
    }
}
