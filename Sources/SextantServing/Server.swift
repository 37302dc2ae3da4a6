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
        feedback = FeedbackStore(threshold: model.threshold, outcomes: feedbackWindow)
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

public struct InferenceResponder: HTTPResponder {
    public typealias Context = BasicRequestContext
    let state: ServingState
    static let predictionIDHeader = HTTPField.Name("x-prediction-id")

    public init(state: ServingState) { self.state = state }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        switch (request.method, segments.first) {
        case (.get, "metrics") where segments.count == 1:
            if let loaded = state.loaded { state.metrics.refresh(drift: loaded.drift, feedback: loaded.feedback) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: state.metrics.registry.emitToBuffer())))
        case (.get, "healthz") where segments.count == 1, (.get, "livez") where segments.count == 1:
            return json(.ok, #"{"live":true}"#)
        case (.get, "readyz") where segments.count == 1:
            return readiness()
        case (_, "v1"):
            return await v1(request, Array(segments.dropFirst()))
        case (_, "v2"):
            return await v2(request, Array(segments.dropFirst()))
        default:
            return error(404, "no route for \(request.method) \(path)")
        }
    }

    // MARK: KServe V1

    func v1(_ request: Request, _ s: [Substring]) async -> Response {
        guard s.count >= 2, s[0] == "models" else { return error(404, "no route for \(request.method) \(request.uri.path)") }
        var name = s[1]
        var verb: Substring = ""
        if let colon = name.lastIndex(of: ":") {
            verb = name[name.index(after: colon)...]
            name = name[..<colon]
        }
        if let e = checkModel(name, version: nil) { return e }
        switch (request.method, verb, s.count) {
        case (.get, "", 2):
            guard state.loaded != nil else { return json(.serviceUnavailable, #"{"name":\#(quoted(state.name)),"ready":false}"#) }
            return json(.ok, #"{"name":\#(quoted(state.name)),"ready":true}"#)
        case (.post, "predict", 2):
            return await infer(request, proto: .v1)
        case (.post, "", 3) where s[2] == "feedback":
            return await feedback(request)
        default:
            return error(404, "no route for \(request.method) \(request.uri.path) (V1: GET /v1/models/NAME, POST /v1/models/NAME:predict, POST /v1/models/NAME/feedback)")
        }
    }

    // MARK: Open Inference Protocol V2

    func v2(_ request: Request, _ s: [Substring]) async -> Response {
        if s.isEmpty, request.method == .get {
            return json(.ok, #"{"name":"sextant-server","version":"0.1.0","extensions":[]}"#)
        }
        if s.count == 2, s[0] == "health", request.method == .get {
            if s[1] == "live" { return json(.ok, #"{"live":true}"#) }
            if s[1] == "ready" { return readiness() }
        }
        guard s.count >= 2, s[0] == "models" else { return error(404, "no route for \(request.method) \(request.uri.path)") }
        var rest = s.dropFirst(2)
        var version: Substring?
        if rest.count >= 2, rest.first == "versions" {
            version = rest.dropFirst().first
            rest = rest.dropFirst(2)
        }
        if let e = checkModel(s[1], version: version) { return e }
        switch (request.method, rest.first, rest.count) {
        case (.get, nil, 0):
            return metadata()
        case (.get, "ready", 1):
            let ready = state.loaded != nil
            return json(ready ? .ok : .serviceUnavailable, #"{"name":\#(quoted(state.name)),"ready":\#(ready)}"#)
        case (.post, "infer", 1):
            return await infer(request, proto: .v2)
        default:
            return error(404, "no route for \(request.method) \(request.uri.path) (V2: GET /v2/models/NAME[/versions/V][/ready], POST .../infer)")
        }
    }

    func metadata() -> Response {
        guard let loaded = state.loaded else { return error(503, "model '\(state.name)' is not loaded yet") }
        let inputs: [JSONValue] = loaded.model.features.map { f in
            .object(["name": .string(f.name), "datatype": .string(f.isCategorical ? "BYTES" : "FP64"), "shape": .array([.int(-1)])])
        }
        let doc: JSONValue = .object([
            "name": .string(state.name),
            "versions": .array([.string(state.version)]),
            "platform": .string(loaded.model.format == .xgboost ? "xgboost_json" : "sextant"),
            "inputs": .array(inputs),
            "outputs": .array([.object(["name": "probability", "datatype": "FP64", "shape": .array([.int(-1)])])]),
        ])
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: doc.serialized(sortedKeys: true))))
    }

    func checkModel(_ name: Substring, version: Substring?) -> Response? {
        guard name == state.name else {
            return error(404, "model '\(name)' not found; this server serves '\(state.name)'")
        }
        if let version, version != state.version {
            return error(404, "model '\(name)' has no version '\(version)'; this server serves version '\(state.version)'")
        }
        return nil
    }

    func readiness() -> Response {
        state.loaded == nil ? json(.serviceUnavailable, #"{"ready":false}"#) : json(.ok, #"{"ready":true}"#)
    }

    // MARK: Inference

    func infer(_ request: Request, proto: InferenceProtocol) async -> Response {
        let start = ContinuousClock.now
        state.metrics.inFlight.increment()
        let response = await score(request, proto: proto)
        state.metrics.inFlight.decrement()
        state.metrics.request(protocol: proto.rawValue, code: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }

    func readBody(_ request: Request) async -> Result<JSONValue, ServingError> {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > state.maxBodyBytes {
            return .failure(ServingError(413, "request body of \(length) bytes exceeds the limit of \(state.maxBodyBytes) bytes (--max-body-bytes)"))
        }
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: state.maxBodyBytes) } catch is NIOTooManyBytesError {
            return .failure(ServingError(413, "request body exceeds the limit of \(state.maxBodyBytes) bytes (--max-body-bytes)"))
        } catch {
            return .failure(ServingError(400, "could not read the request body: \(error)"))
        }
        do { return .success(try JSONValue.parse(buffer.readableBytesView)) } catch {
            return .failure(.bad("request body is not valid JSON: \(error.description)"))
        }
    }

    func score(_ request: Request, proto: InferenceProtocol) async -> Response {
        guard let loaded = state.loaded else { return error(503, "model '\(state.name)' is not loaded yet") }
        let body: JSONValue
        switch await readBody(request) {
        case .success(let b): body = b
        case .failure(let e): return error(e.status, e.message)
        }
        let matrix: FeatureMatrix
        var requestID: String?
        do throws(ServingError) {
            switch proto {
            case .v1: matrix = try loaded.model.decodeV1(body)
            case .v2: (matrix, requestID) = try loaded.model.decodeV2(body)
            }
        } catch {
            return self.error(error.status, error.message)
        }
        let probabilities = loaded.model.predict(matrix.values, rows: matrix.rows)
        state.metrics.predictions(probabilities, threshold: loaded.model.threshold)
        loaded.drift?.observe(matrix.values, rows: matrix.rows)
        let id = loaded.feedback.record(probabilities)

        var out: [UInt8] = []
        out.reserveCapacity(64 + probabilities.count * 22)
        switch proto {
        case .v1:
            out.append(contentsOf: #"{"predictions":["#.utf8)
            appendNumbers(probabilities, to: &out)
            out.append(contentsOf: #"],"id":"#.utf8)
            out.append(contentsOf: quoted(id).utf8)
            out.append(UInt8(ascii: "}"))
        case .v2:
            out.append(contentsOf: #"{"model_name":\#(quoted(state.name)),"model_version":\#(quoted(state.version)),"id":\#(quoted(requestID ?? id)),"#.utf8)
            out.append(contentsOf: #""parameters":{"prediction_id":\#(quoted(id))},"#.utf8)
            out.append(contentsOf: #""outputs":[{"name":"probability","datatype":"FP64","shape":[\#(probabilities.count)],"data":["#.utf8)
            appendNumbers(probabilities, to: &out)
            out.append(contentsOf: "]}]}".utf8)
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let name = Self.predictionIDHeader { headers[name] = id }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
    }

    func appendNumbers(_ values: [Double], to out: inout [UInt8]) {
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if v.isFinite { out.append(contentsOf: v.description.utf8) } else { out.append(contentsOf: "null".utf8) }
        }
    }

    // MARK: Feedback

    func feedback(_ request: Request) async -> Response {
        guard let loaded = state.loaded else { return error(503, "model '\(state.name)' is not loaded yet") }
        let body: JSONValue
        switch await readBody(request) {
        case .success(let b): body = b
        case .failure(let e): return error(e.status, e.message)
        }
        let items: [(id: String, labels: [Bool])]
        do throws(ServingError) { items = try FeedbackStore.parse(body) } catch { return self.error(error.status, error.message) }
        let result = loaded.feedback.addLabels(items)
        if result.matched > 0 { state.metrics.feedbackMatched.increment(by: Int64(result.matched)) }
        if !result.unknown.isEmpty { state.metrics.feedbackUnknown.increment(by: Int64(result.unknown.count)) }
        let doc: JSONValue = .object(["matched": .int(Int64(result.matched)),
                                      "unknown": .array(result.unknown.prefix(100).map { .string($0) })])
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
