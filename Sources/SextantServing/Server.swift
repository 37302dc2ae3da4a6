// HTTP front of the model server (Hummingbird): KServe V1, Open Inference Protocol V2, feedback,
// /metrics and probes. One responder dispatches on the path itself: V1's "NAME:predict" is a single
// path segment that router patterns do not split.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SextantJSON
import Synchronization

/// The model once it is loaded, with the windows that follow its traffic.
public struct LoadedModel: Sendable {
    public let model: ServedModel
    public let drift: DriftMonitor?
    public let feedback: FeedbackStore

    public init(model: ServedModel, driftWindow: Int = 1000, feedbackWindow: Int = 10_000) {
        self.model = model
        drift = DriftMonitor(model: model, capacity: driftWindow)
        feedback = FeedbackStore(target: model.feedbackTarget, outcomes: feedbackWindow)
    }
}

/// What the server serves and its readiness; the model slot is filled once loading finishes.
public final class ServingState: Sendable {
    public let name: String
    public let version: String
    public let metrics: ServingMetrics
    public let maxBodyBytes: Int
    private let slot = Mutex<LoadedModel?>(nil)

    public init(name: String, version: String, maxBodyBytes: Int = 8 << 20, metrics: ServingMetrics? = nil) {
        self.name = name
        self.version = version
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics ?? ServingMetrics(model: name, version: version)
    }

    public var loaded: LoadedModel? { slot.withLock { $0 } }

    public func install(_ model: LoadedModel) {
        slot.withLock { $0 = model }
        metrics.loaded.set(to: 1.0)
    }
}

/// The request context: Hummingbird's, plus the channel (a body over the limit that cannot be
/// read to its end closes the connection).
public struct ServingRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

public struct InferenceResponder: HTTPResponder {
    public typealias Context = ServingRequestContext
    let state: ServingState
    static let predictionIDHeader = HTTPField.Name("x-prediction-id")
    static let inferenceHeaderLength = HTTPField.Name(BinaryTensorData.headerLength)
    /// Bytes of an over-limit body read and discarded so the client gets to read its 413; a body
    /// larger still gets its 413 and the connection is closed.
    static let drainLimit = 64 << 20

    public init(state: ServingState) { self.state = state }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard let route = RouteMatch.match(Substring(path)) else {
            return error(404, "no route for \(request.method) \(path.prefix(200)); see /v2 (Open Inference Protocol), /v1/models/NAME (KServe V1), /metrics")
        }
        guard request.method == route.endpoint.method else {
            let allowed = route.endpoint.method.rawValue
            var response = error(405, "method \(request.method.rawValue.prefix(20)) is not allowed for \(path.prefix(200)); allowed: \(allowed)")
            response.headers[.allow] = allowed
            return response
        }
        if let model = route.model, let e = checkModel(model, version: route.version) { return e }
        switch route.endpoint {
        case .metrics:
            if let loaded = state.loaded { state.metrics.refresh(drift: loaded.drift, feedback: loaded.feedback) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: state.metrics.registry.emitToBuffer())))
        case .live, .v2Live:
            return json(.ok, #"{"live":true}"#)
        case .ready, .v2Ready:
            return readiness()
        case .v1Status, .v2ModelReady:
            let ready = state.loaded != nil
            return json(ready ? .ok : .serviceUnavailable, #"{"name":\#(quoted(state.name)),"ready":\#(ready)}"#)
        case .v1Predict:
            return await infer(request, context: context, proto: .v1)
        case .v1Explain:
            return await infer(request, context: context, proto: .v1, explain: true)
        case .v1Feedback:
            return await feedback(request, context: context)
        case .v2Server:
            let server: JSONValue = .object(["name": .string(ServerDescription.name), "version": .string(ServerDescription.version),
                                             "extensions": .array(ServerDescription.extensions.map { .string($0) })])
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: server.serialized(sortedKeys: true))))
        case .v2Model:
            return metadata()
        case .v2Infer:
            return await infer(request, context: context, proto: .v2)
        }
    }

    func metadata() -> Response {
        guard let loaded = state.loaded else { return error(503, "model '\(state.name)' is not loaded yet") }
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: ModelDescription(state: state, model: loaded.model).json.serialized(sortedKeys: true))))
    }

    func checkModel(_ name: Substring, version: Substring?) -> Response? {
        do throws(ServingError) { try state.checkModel(name, version: version) } catch { return self.error(error.status, error.message) }
        return nil
    }

    func readiness() -> Response {
        state.loaded == nil ? json(.serviceUnavailable, #"{"ready":false}"#) : json(.ok, #"{"ready":true}"#)
    }

    // MARK: Inference

    func infer(_ request: Request, context: Context, proto: InferenceProtocol, explain: Bool = false) async -> Response {
        await state.account(protocol: proto.rawValue) {
            let response = await score(request, context: context, proto: proto, explain: explain)
            return (response, Int(response.status.code))
        }
    }

    /// Reads the body up to `--max-body-bytes`. A larger body is read to its end and discarded
    /// (up to `drainLimit`) so that the client, which may be blocked sending it, gets to read the
    /// 413; past that the connection is closed after the 413.
    func readBody(_ request: Request, context: Context) async -> Result<ByteBuffer, ServingError> {
        let limit = state.maxBodyBytes
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        var tooLarge = (declared ?? 0) > limit
        if let declared, declared > limit + Self.drainLimit {
            closeSoon(context)
            return .failure(ServingError(413, "request body of \(declared) bytes exceeds the limit of \(limit) bytes (--max-body-bytes)"))
        }
        var buffer = ByteBuffer()
        var total = 0
        do {
            for try await chunk in request.body {
                total += chunk.readableBytes
                if total > limit { tooLarge = true }
                if !tooLarge {
                    var chunk = chunk
                    buffer.writeBuffer(&chunk)
                } else if total > limit + Self.drainLimit {
                    closeSoon(context)
                    break
                }
            }
        } catch {
            return .failure(ServingError(400, "could not read the request body: \(error)"))
        }
        if tooLarge {
            let size = declared.map { "of \($0) bytes " } ?? ""
            return .failure(ServingError(413, "request body \(size)exceeds the limit of \(limit) bytes (--max-body-bytes)"))
        }
        return .success(buffer)
    }

    /// Closes the connection once the response had time to go out (the rest of the body is not read).
    func closeSoon(_ context: Context) {
        let channel = context.channel
        channel.eventLoop.scheduleTask(in: .milliseconds(200)) { channel.close(promise: nil) }
    }

    func parseJSON(_ buffer: ByteBuffer) -> Result<JSONValue, ServingError> {
        do { return .success(try JSONValue.parse(buffer.readableBytesView)) } catch {
            return .failure(.bad("request body is not valid JSON: \(error.description)"))
        }
    }

    /// `explain`: V1 `:explain`, the predictions with each row's TreeSHAP contributions.
    func score(_ request: Request, context: Context, proto: InferenceProtocol, explain: Bool = false) async -> Response {
        guard let loaded = state.loaded else { return error(503, "model '\(state.name)' is not loaded yet") }
        let body: ByteBuffer
        switch await readBody(request, context: context) {
        case .success(let b): body = b
        case .failure(let e): return error(e.status, e.message)
        }
        let decoded: V2Request
        do throws(ServingError) {
            if explain, !loaded.model.canExplain { throw .bad(loaded.model.cannotExplainMessage) }
            switch proto {
            case .v1:
                if let matrix = loaded.model.fastV1(body) {
                    decoded = V2Request(matrix: matrix, id: nil, binaryOutput: false)
                } else {
                    decoded = V2Request(matrix: try loaded.model.decodeV1(try parseJSON(body).get()), id: nil, binaryOutput: false)
                }
            case .v2:
                let headerLength = Self.inferenceHeaderLength.flatMap { request.headers[$0] }
                let (json, binary) = try BinaryTensorData.split(body, headerLength: headerLength)
                decoded = try loaded.model.decodeV2(try parseJSON(json).get(), binary: binary)
            }
        } catch {
            return self.error(error.status, error.message)
        }
        let matrix = decoded.matrix
        let prediction = state.predict(matrix, with: loaded)
        let probabilities = prediction.probabilities, id = prediction.predictionID

        var out: [UInt8] = []
        out.reserveCapacity(160 + probabilities.count * 22)
        var headers: HTTPFields = [.contentType: "application/json"]
        switch proto {
        case .v1:
            out.append(contentsOf: #"{"predictions":["#.utf8)
            appendNumbers(probabilities, rowWidth: loaded.model.outputWidth, to: &out)
            if explain, let phi = loaded.model.contributions(matrix.values, rows: matrix.rows) {
                // One array per row (features + 1 values, the bias last), K of them for K outputs.
                out.append(contentsOf: #"],"contributions":["#.utf8)
                let width = loaded.model.featureCount + 1, k = loaded.model.outputWidth
                for r in 0..<matrix.rows {
                    if r > 0 { out.append(UInt8(ascii: ",")) }
                    if k > 1 { out.append(UInt8(ascii: "[")) }
                    for c in 0..<k {
                        if c > 0 { out.append(UInt8(ascii: ",")) }
                        out.append(UInt8(ascii: "["))
                        appendNumbers(Array(phi[(r * k + c) * width..<(r * k + c + 1) * width]), to: &out)
                        out.append(UInt8(ascii: "]"))
                    }
                    if k > 1 { out.append(UInt8(ascii: "]")) }
                }
            }
            out.append(contentsOf: #"],"id":"#.utf8)
            out.append(contentsOf: quoted(id).utf8)
            out.append(UInt8(ascii: "}"))
        case .v2:
            out.append(contentsOf: #"{"model_name":\#(quoted(state.name)),"model_version":\#(quoted(state.version)),"id":\#(quoted(decoded.id ?? id)),"#.utf8)
            out.append(contentsOf: #""parameters":{"prediction_id":\#(quoted(id))},"#.utf8)
            let shape = loaded.model.outputShape(rows: matrix.rows).map(String.init).joined(separator: ",")
            out.append(contentsOf: #""outputs":[{"name":\#(quoted(loaded.model.outputName)),"datatype":"FP64","shape":[\#(shape)],"#.utf8)
            if decoded.binaryOutput {
                out.append(contentsOf: #""parameters":{"binary_data_size":\#(probabilities.count * 8)}}]}"#.utf8)
                if let name = Self.inferenceHeaderLength { headers[name] = String(out.count) }
                headers[.contentType] = "application/octet-stream"
                out.reserveCapacity(out.count + probabilities.count * 8)
                for p in probabilities { withUnsafeBytes(of: p.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            } else {
                out.append(contentsOf: #""data":["#.utf8)
                appendNumbers(probabilities, to: &out)
                out.append(contentsOf: "]}".utf8)
                if decoded.explain, let phi = loaded.model.contributions(matrix.values, rows: matrix.rows) {
                    let shape = loaded.model.contributionShape(rows: matrix.rows).map(String.init).joined(separator: ",")
                    out.append(contentsOf: #",{"name":"contributions","datatype":"FP64","shape":[\#(shape)],"data":["#.utf8)
                    appendNumbers(phi, to: &out)
                    out.append(contentsOf: "]}".utf8)
                }
                out.append(contentsOf: "]}".utf8)
            }
        }
        if let name = Self.predictionIDHeader { headers[name] = id }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
    }

    /// Numbers, comma-separated; with `rowWidth` > 1, one JSON array per row (V1 multiclass).
    func appendNumbers(_ values: [Double], rowWidth: Int = 1, to out: inout [UInt8]) {
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if rowWidth > 1, i % rowWidth == 0 { out.append(UInt8(ascii: "[")) }
            if v.isFinite { out.append(contentsOf: v.description.utf8) } else { out.append(contentsOf: "null".utf8) }
            if rowWidth > 1, i % rowWidth == rowWidth - 1 { out.append(UInt8(ascii: "]")) }
        }
    }

    // MARK: Feedback

    func feedback(_ request: Request, context: Context) async -> Response {
        guard let loaded = state.loaded else { return error(503, "model '\(state.name)' is not loaded yet") }
        let body: JSONValue
        switch await readBody(request, context: context).flatMap(parseJSON) {
        case .success(let b): body = b
        case .failure(let e): return error(e.status, e.message)
        }
        let items: [FeedbackItem]
        do throws(ServingError) { items = try FeedbackStore.parse(body, target: loaded.feedback.target) } catch { return self.error(error.status, error.message) }
        let result = loaded.feedback.addLabels(items)
        state.metrics.feedback(result)
        let doc: JSONValue = .object(["matched": .int(Int64(result.matched)), "duplicate": .int(Int64(result.duplicate)),
                                      "unknown_labels": .int(Int64(result.unknownLabels)),
                                      "unknown": .array(result.unknown.prefix(100).map { .string($0) }),
                                      "rejected_labels": .int(Int64(result.rejectedLabels)),
                                      "rejected": .array(result.rejected.prefix(100).map { .object(["id": .string($0.id), "reason": .string($0.reason)]) })])
        // Unknown ids are not an error of the request as a whole: they may simply have expired.
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: doc.serialized(sortedKeys: true))))
    }

    // MARK: Helpers

    func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    func error(_ code: Int, _ message: String) -> Response {
        json(HTTPResponse.Status(code: code), #"{"error":\#(quoted(message))}"#)
    }

    func quoted(_ s: some StringProtocol) -> String { JSONValue.string(String(s)).jsonString() }
}

extension ServingState {
    /// Loads the model and makes the server ready; the error names the URI and the problem.
    public func load(uri: String, sha256: String?, driftWindow: Int = 1000, logger: Logger) async throws {
        let start = ContinuousClock.now
        let model = try await ServedModel.load(uri: uri, name: name, version: version, sha256: sha256,
                                               s3: .init(environment: ProcessInfo.processInfo.environment))
        install(LoadedModel(model: model, driftWindow: driftWindow))
        logger.info("model loaded", metadata: [
            "model": .string(name), "version": .string(version), "format": .string(model.format.rawValue),
            "features": .stringConvertible(model.featureCount), "drift": .stringConvertible(model.referenceProfile != nil),
            "seconds": .string(String(describing: ContinuousClock.now - start)),
        ])
    }
}

public enum InferenceServer {
    /// The Hummingbird application serving `state` on `host:port`; `onRunning` gets the bound
    /// address (useful with port 0).
    public static func application(state: ServingState, host: String, port: Int, logger: Logger,
                                   onRunning: @escaping @Sendable (String, Int) async -> Void = { _, _ in })
        -> Application<InferenceResponder> {
        Application(
            responder: InferenceResponder(state: state),
            configuration: .init(address: .hostname(host, port: port), serverName: "sextant-server"),
            onServerRunning: { channel in
                await onRunning(channel.localAddress?.ipAddress ?? host, channel.localAddress?.port ?? port)
            },
            logger: logger)
    }
}
