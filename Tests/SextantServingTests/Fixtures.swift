import Foundation
import Logging
import SextantML
import SextantTestSupport
import SextantTransport
import Testing
@testable import SextantServing

/// A hand-written Sextant artifact: amount (numeric) and country (categorical de/fr/us).
/// Margin: amount < 100 -> -1 (missing goes left); else country in {us} -> 0.5, other -> 1.5.
/// The reference profile has four equal amount bins split at 50/100/150 and countries 50/30/20 %.
let artifactJSON = #"""
{"format":"sextant-model/v1","modelName":"fraud","trainerVersion":"0.1.0","createdAt":"2026-01-01T00:00:00Z",
 "algorithm":"gradientBoosting","objective":"binary:logistic","baseScore":0,"threshold":0.5,"hyperparameters":{},
 "features":[{"name":"amount","type":"numeric"},{"name":"country","type":"categorical","categories":["de","fr","us"]}],
 "trees":[{"splitFeature":[0,-1,1,-1,-1],"threshold":[100,0,0,0,0],"left":[1,-1,3,-1,-1],"right":[2,-1,4,-1,-1],
           "defaultLeft":[true,true,false,true,true],"value":[0,-1,0,0.5,1.5],"categories":[[],[],[2],[],[]]}],
 "referenceProfile":{"rows":1000,"quantileLevels":[0.01,0.05,0.25,0.5,0.75,0.95,0.99],"positiveRate":0.3,
   "columns":[
     {"name":"amount","type":"numeric","count":1000,"nullCount":0,"nullRatio":0,"mean":100,"variance":3333,"min":0,"max":200,
      "quantiles":[2,10,50,100,150,190,198],"histogram":{"edges":[50,100,150],"counts":[250,250,250,250]}},
     {"name":"country","type":"categorical","count":1000,"nullCount":0,"nullRatio":0,
      "categories":[{"value":"de","count":500},{"value":"fr","count":300},{"value":"us","count":200}]}]}}
"""#

func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

func artifactModel(name: String = "fraud", version: String = "3") throws -> ServedModel {
    try ServedModel.decode(Data(artifactJSON.utf8), uri: "inline", name: name, version: version)
}


/// Runs an in-process server on 127.0.0.1 with a free port for the duration of `body`.
func withServer<T: Sendable>(_ state: ServingState, _ body: @Sendable (String) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let app = InferenceServer.application(state: state, host: "127.0.0.1", port: 0, logger: logger) { _, port in
        continuation.yield(port)
    }
    let server = Task { try await app.run() }
    defer { server.cancel() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw TestSetupError("server did not start") }
    return try await body("http://127.0.0.1:\(port)")
}

struct Reply: Sendable {
    var status: Int
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var body: Data
    var headers: HTTPHeaders
    var text: String { String(decoding: body, as: UTF8.self) }
}

func call(_ method: String, _ url: String, _ body: String? = nil) async throws -> Reply {
    let r = try await HTTPClient.shared.send(HTTPRequest(
        method: method, url: url, headers: body == nil ? [] : [HTTPHeader("Content-Type", "application/json")],
        body: body.map { Data($0.utf8) }))
    return Reply(status: r.status, body: r.body, headers: r.headers)
}

func loadedState(_ model: ServedModel, maxBodyBytes: Int = 1 << 20, driftWindow: Int = 1000) -> ServingState {
    let state = ServingState(name: model.name, version: model.version, maxBodyBytes: maxBodyBytes)
    state.install(LoadedModel(model: model, driftWindow: driftWindow))
    return state
}

/// Value of one sample line of Prometheus text whose name and labels contain all `parts`.
func sample(_ metrics: String, _ name: String, _ parts: [String] = []) -> Double? {
    for line in metrics.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
        guard parts.allSatisfy({ line.contains($0) }), let value = line.split(separator: " ").last else { continue }
        return Double(value)
    }
    return nil
}

/// `runCommand` off Swift's cooperative thread pool: a client process that waits on an in-process
/// server must not hold one of the pool's few threads (two on a 2-core machine), or the server's
/// handlers, which run on that pool, starve.
func runClient(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws
    -> (code: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runCommand(executable, arguments, environment: environment) })
        }
    }
}
