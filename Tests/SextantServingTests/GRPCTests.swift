import Foundation
import Logging
import SextantTestSupport
import Testing
@testable import SextantServing
@testable import SextantServingGRPC

/// Triton's Python gRPC client (tritonclient[grpc]) against the gRPC service: health, metadata,
/// inference with raw contents in FP32, FP64 (NaN = missing), INT32, INT64 and UINT8, one tensor
/// per feature, refusals as gRPC statuses that name the field (the client itself refuses a raw size
/// or datatype that does not match its numpy array, so those go through grpcio below); predictions equal XGBoost's and,
/// bit for bit, the HTTP service's for the same rows.
let tritonGRPCScript = #"""
import sys
import numpy as np
import xgboost as xgb
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

grpc_url, http_url, model_file = sys.argv[1], sys.argv[2], sys.argv[3]
c = grpcclient.InferenceServerClient(url=grpc_url)
assert c.is_server_live() and c.is_server_ready()
assert c.is_model_ready("xgb") and c.is_model_ready("xgb", "1")
server = c.get_server_metadata()
assert server.name == "sextant-server" and "binary_tensor_data" in server.extensions, server
meta = c.get_model_metadata("xgb")
assert meta.platform == "xgboost_json" and len(meta.inputs) == 8 and meta.outputs[0].name == "probability", meta
assert list(meta.versions) == ["1"] and list(meta.inputs[0].shape) == [-1], meta

rng = np.random.default_rng(5)
X = rng.normal(size=(257, 8))
X[rng.random(size=X.shape) < 0.15] = np.nan
booster = xgb.Booster(model_file=model_file)
h = httpclient.InferenceServerClient(url=http_url)
worst = 0.0
def infer(data, datatype, request_id=""):
    inp = grpcclient.InferInput("input-0", list(data.shape), datatype)
    inp.set_data_from_numpy(data)
    return c.infer("xgb", [inp], request_id=request_id)
for dtype, name in [(np.float32, "FP32"), (np.float64, "FP64")]:
    data = X.astype(dtype)
    r = infer(data, name, request_id="req-" + name)
    got = r.as_numpy("probability")
    assert got.shape == (257,), got.shape
    worst = max(worst, float(np.max(np.abs(got - booster.predict(xgb.DMatrix(data))))))
    resp = r.get_response()
    assert resp.id == "req-" + name and resp.model_name == "xgb" and resp.model_version == "1", resp.id
    assert resp.parameters["prediction_id"].string_param, resp.parameters
    # The same rows over HTTP (binary tensors) score the same, bit for bit.
    hi = httpclient.InferInput("input-0", list(data.shape), name)
    hi.set_data_from_numpy(data)
    via_http = h.infer("xgb", [hi]).as_numpy("probability")
    assert np.array_equal(got, via_http), np.max(np.abs(got - via_http))
# Integer tensors (no missing values in integers).
Xi = np.nan_to_num(np.round(X * 3), nan=0.0)
for dtype, name in [(np.int32, "INT32"), (np.int64, "INT64"), (np.uint8, "UINT8")]:
    data = np.abs(Xi).astype(dtype) if name == "UINT8" else Xi.astype(dtype)
    got = infer(data, name).as_numpy("probability")
    worst = max(worst, float(np.max(np.abs(got - booster.predict(xgb.DMatrix(data.astype(np.float64)))))))
# One tensor per feature, a sparse client leaving the last feature out.
inputs = []
for j in range(7):
    t = grpcclient.InferInput("f%d" % j, [257], "FP64")
    t.set_data_from_numpy(X[:, j].copy())
    inputs.append(t)
got = c.infer("xgb", inputs).as_numpy("probability")
Xs = X.copy(); Xs[:, 7] = np.nan
worst = max(worst, float(np.max(np.abs(got - booster.predict(xgb.DMatrix(Xs))))))
assert worst <= 1e-6, "max |sextant - xgboost| = %g" % worst

def tensor(name, shape, datatype, data):
    t = grpcclient.InferInput(name, shape, datatype)
    t.set_data_from_numpy(data)
    return t
def refused(code, words, call):
    try:
        call()
    except InferenceServerException as e:
        assert e.status() == "StatusCode." + code, (e.status(), e.message())
        for w in words:
            assert w in e.message(), (w, e.message())
        return
    raise SystemExit("accepted: expected %s naming %s" % (code, words))
refused("NOT_FOUND", ["'nope'", "'xgb'"], lambda: c.infer("nope", [tensor("input-0", [1, 8], "FP64", np.zeros((1, 8)))]))
refused("NOT_FOUND", ["version '9'"], lambda: c.get_model_metadata("xgb", "9"))
refused("INVALID_ARGUMENT", ["input-0", "expects [rows, 8]"], lambda: infer(np.zeros((2, 3)), "FP64"))
refused("INVALID_ARGUMENT", ["'f9'", "one input per feature"], lambda: c.infer("xgb", [tensor("f9", [1], "FP64", np.zeros(1))]))
refused("INVALID_ARGUMENT", ["infinite"], lambda: infer(np.full((1, 8), np.inf), "FP64"))
refused("INVALID_ARGUMENT", ["unknown output 'logits'"], lambda: c.infer("xgb", [tensor("input-0", [1, 8], "FP64", np.zeros((1, 8)))],
                                                                           outputs=[grpcclient.InferRequestedOutput("logits")]))
assert c.is_server_live()
print("tritonclient grpc ok, max diff %.3g" % worst)
"""#

/// Plain grpcio with the messages of tritonclient's own proto (a superset of KServe's, same
/// package and field numbers): typed contents, every wrong combination of contents fields, and a
/// bounded random-message fuzz; no request may crash the server or get INTERNAL/UNKNOWN.
let grpcioScript = #"""
import random, sys
import grpc
import numpy as np
import xgboost as xgb
from tritonclient.grpc import service_pb2 as pb, service_pb2_grpc as rpc

url, model_file = sys.argv[1], sys.argv[2]
stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))
assert stub.ServerLive(pb.ServerLiveRequest()).live
assert stub.ServerReady(pb.ServerReadyRequest()).ready
assert stub.ModelReady(pb.ModelReadyRequest(name="xgb")).ready
booster = xgb.Booster(model_file=model_file)
rng = np.random.default_rng(9)
X = rng.normal(size=(20, 8))

def request(**tensor):
    t = pb.ModelInferRequest.InferInputTensor(name="input-0", **tensor)
    return pb.ModelInferRequest(model_name="xgb", inputs=[t])
want = booster.predict(xgb.DMatrix(X))
# Typed contents come back typed.
r = stub.ModelInfer(request(datatype="FP64", shape=[20, 8], contents=pb.InferTensorContents(fp64_contents=X.ravel())))
got = np.array(r.outputs[0].contents.fp64_contents)
assert len(r.raw_output_contents) == 0 and list(r.outputs[0].shape) == [20]
assert np.max(np.abs(got - want)) <= 1e-6, np.max(np.abs(got - want))
r = stub.ModelInfer(request(datatype="FP32", shape=[20, 8], contents=pb.InferTensorContents(fp32_contents=X.astype(np.float32).ravel())))
assert np.max(np.abs(np.array(r.outputs[0].contents.fp64_contents) - booster.predict(xgb.DMatrix(X.astype(np.float32))))) <= 1e-6
Xi = np.round(X * 4).astype(np.int64)
r = stub.ModelInfer(request(datatype="INT16", shape=[20, 8], contents=pb.InferTensorContents(int_contents=Xi.ravel())))
assert np.max(np.abs(np.array(r.outputs[0].contents.fp64_contents) - booster.predict(xgb.DMatrix(Xi.astype(np.float64))))) <= 1e-6

def refused(code, words, req):
    try:
        stub.ModelInfer(req)
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        for w in words:
            assert w in e.details(), (w, e.details())
        return
    raise SystemExit("accepted: expected %s naming %s" % (code, words))
bad = grpc.StatusCode.INVALID_ARGUMENT
refused(bad, ["input-0", "FP32", "fp64_contents", "fp32_contents"], request(datatype="FP32", shape=[1, 8], contents=pb.InferTensorContents(fp64_contents=[0.0] * 8)))
refused(bad, ["contents.fp32_contents has 7"], request(datatype="FP32", shape=[1, 8], contents=pb.InferTensorContents(fp32_contents=[0.0] * 7)))
refused(bad, ["fp32_contents and contents.fp64_contents"], request(datatype="FP32", shape=[1, 8], contents=pb.InferTensorContents(fp32_contents=[0.0] * 8, fp64_contents=[0.0] * 8)))
refused(bad, ["contents[3] = 300", "INT8"], request(datatype="INT8", shape=[1, 8], contents=pb.InferTensorContents(int_contents=[0, 0, 0, 300, 0, 0, 0, 0])))
refused(bad, ["has no contents"], request(datatype="FP64", shape=[1, 8]))
req = request(datatype="FP64", shape=[1, 8], contents=pb.InferTensorContents(fp64_contents=[0.0] * 8))
req.raw_input_contents.append(np.zeros(8).tobytes())
refused(bad, ["contents.fp64_contents and raw_input_contents"], req)
req = request(datatype="FP64", shape=[1, 8])
req.raw_input_contents.extend([np.zeros(8).tobytes(), b"x"])
refused(bad, ["raw_input_contents has 2 entries for 1 inputs"], req)
req = request(datatype="FP32", shape=[2, 8])
req.raw_input_contents.append(np.zeros((2, 8)).tobytes())
refused(bad, ["input-0", "raw_input_contents has 128 bytes", "FP32", "needs 64"], req)
req = request(datatype="FP99", shape=[1, 8])
req.raw_input_contents.append(np.zeros((1, 8)).tobytes())
refused(bad, ["'FP99'"], req)
refused(grpc.StatusCode.NOT_FOUND, ["'other'"], pb.ModelInferRequest(model_name="other"))

# Bounded fuzz: random datatypes, shapes, contents and raw bytes.
types = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "", "X"]
fields = ["bool_contents", "int_contents", "int64_contents", "uint_contents", "uint64_contents", "fp32_contents", "fp64_contents", "bytes_contents"]
random.seed(3)
codes = {}
for i in range(300):
    n_in = random.choice([0, 1, 1, 1, 2, 8])
    req = pb.ModelInferRequest(model_name="xgb", id=str(i))
    for k in range(n_in):
        shape = [random.choice([-1, 0, 1, 2, 3, 8, 1 << 40]) for _ in range(random.choice([0, 1, 2, 2, 3]))]
        t = req.inputs.add(name=random.choice(["input-0", "f%d" % k, "", "f1"]), datatype=random.choice(types), shape=shape)
        if random.random() < 0.5:
            req.raw_input_contents.append(bytes(random.getrandbits(8) for _ in range(random.choice([0, 1, 4, 8, 16, 64]))))
        else:
            f = random.choice(fields)
            m = random.choice([0, 1, 8, 16])
            vals = {"bool_contents": [True] * m, "bytes_contents": [b"a"] * m, "fp32_contents": [random.uniform(-1e30, 1e30) for _ in range(m)],
                    "fp64_contents": [random.choice([0.5, float("nan"), float("inf"), -1e308]) for _ in range(m)],
                    "int_contents": [random.randint(-2**31, 2**31 - 1) for _ in range(m)], "int64_contents": [random.randint(-2**63, 2**63 - 1) for _ in range(m)],
                    "uint_contents": [random.randint(0, 2**32 - 1) for _ in range(m)], "uint64_contents": [random.randint(0, 2**64 - 1) for _ in range(m)]}[f]
            getattr(t.contents, f).extend(vals)
    if random.random() < 0.2:
        req.outputs.add(name=random.choice(["probability", "x"]))
    try:
        stub.ModelInfer(req, timeout=30)
        codes["OK"] = codes.get("OK", 0) + 1
    except grpc.RpcError as e:
        assert e.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE), (i, e.code(), e.details())
        assert e.details(), (i, e.code())
        codes[e.code().name] = codes.get(e.code().name, 0) + 1
# Bytes that are no protobuf at all.
raw = grpc.insecure_channel(url).unary_unary("/inference.GRPCInferenceService/ModelInfer")
for junk in [b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", bytes(range(256))]:
    try:
        raw(junk, timeout=30)
    except grpc.RpcError as e:
        assert e.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE), (junk, e.code(), e.details())
assert stub.ServerLive(pb.ServerLiveRequest()).live
print("grpcio ok", sorted(codes.items()))
"""#

/// Runs the HTTP and gRPC services over one `ServingState` on free ports for the duration of `body`
/// (arguments: the HTTP base URL, the gRPC HOST:PORT).
func withServers<T: Sendable>(_ state: ServingState, _ body: @Sendable (String, String) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let grpc = InferenceGRPCServer(state: state, host: "127.0.0.1", port: 0, logger: logger) { _, port in continuation.yield(port) }
    let server = Task { try await grpc.run() }
    defer { server.cancel() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw TestSetupError("gRPC server did not start") }
    return try await withServer(state) { base in try await body(base, "127.0.0.1:\(port)") }
}

@Suite(.serialized) struct GRPCTests {
    static func available() throws -> Bool {
        try Tooling.available("python3 with tritonclient[grpc], tritonclient[http], grpcio, xgboost and numpy (hack/requirements-test.txt)",
                              Tooling.pythonHas(["tritonclient.grpc", "tritonclient.http", "grpc", "xgboost", "numpy"]))
    }

    static func trainedModel() async throws -> (TemporaryDirectory, ServedModel) {
        let dir = try TemporaryDirectory()
        try Data(tritonTrainScript.utf8).write(to: URL(fileURLWithPath: dir.file("train.py")))
        let trained = try await runClient("python3", [dir.file("train.py"), dir.path])
        try #require(trained.code == 0, "\(trained.output)")
        return (dir, try await ServedModel.load(uri: dir.file("model.json"), name: "xgb", version: "1"))
    }

    @Test func tritonGRPCClientMatchesXGBoostAndHTTP() async throws {
        guard try Self.available() else { return }
        let (dir, model) = try await Self.trainedModel()
        try Data(tritonGRPCScript.utf8).write(to: URL(fileURLWithPath: dir.file("client.py")))
        let state = loadedState(model)
        try await withServers(state) { base, grpc in
            let run = try await runClient("python3", [dir.file("client.py"), grpc, base.replacingOccurrences(of: "http://", with: ""),
                                                 dir.file("model.json")], environment: ["no_proxy": "*", "NO_PROXY": "*"])
            #expect(run.code == 0, "\(run.output)")
            #expect(run.output.contains("tritonclient grpc ok"), "\(run.output)")
            print(String(run.output.split(separator: "\n").last ?? ""))
        }
        // One set of metrics: gRPC requests are counted under their own protocol label with the
        // HTTP status of the same meaning, beside the HTTP ones.
        let metrics = String(decoding: state.metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect((sample(metrics, "sextant_requests_total", [#"protocol="grpc""#, #"code="200""#]) ?? 0) >= 6, "\(metrics)")
        #expect((sample(metrics, "sextant_requests_total", [#"protocol="grpc""#, #"code="400""#]) ?? 0) >= 4)
        #expect((sample(metrics, "sextant_requests_total", [#"protocol="v2""#, #"code="200""#]) ?? 0) == 2)
    }

    @Test func grpcioTypedContentsRefusalsAndFuzz() async throws {
        guard try Self.available() else { return }
        let (dir, model) = try await Self.trainedModel()
        try Data(grpcioScript.utf8).write(to: URL(fileURLWithPath: dir.file("grpcio.py")))
        try await withServers(loadedState(model)) { _, grpc in
            let run = try await runClient("python3", [dir.file("grpcio.py"), grpc, dir.file("model.json")],
                                     environment: ["no_proxy": "*", "NO_PROXY": "*"])
            #expect(run.code == 0, "\(run.output)")
            #expect(run.output.contains("grpcio ok"), "\(run.output)")
            print(String(run.output.split(separator: "\n").last ?? ""))
        }
    }

    @Test func grpcStatusFollowsTheHTTPStatus() {
        #expect(InferenceGRPCService.grpcCode(httpStatus: 400) == .invalidArgument)
        #expect(InferenceGRPCService.grpcCode(httpStatus: 404) == .notFound)
        #expect(InferenceGRPCService.grpcCode(httpStatus: 413) == .resourceExhausted)
        #expect(InferenceGRPCService.grpcCode(httpStatus: 503) == .unavailable)
        #expect(InferenceGRPCService.grpcCode(httpStatus: 500) == .internalError)
    }
}
