import Foundation
import SextantTestSupport
import Testing
@testable import SextantServing

/// Trains an XGBoost model, saves it and XGBoost's predictions for rows with missing values.
let tritonTrainScript = #"""
import json, sys
import numpy as np
import xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(11)
n, f = 800, 8
X = rng.normal(size=(n, f))
y = ((X[:, 0] - 0.7 * X[:, 1] + 0.4 * X[:, 2] * X[:, 3] + rng.normal(scale=0.4, size=n)) > 0).astype(int)
X[rng.random(size=X.shape) < 0.1] = np.nan
booster = xgb.train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.2}, xgb.DMatrix(X, label=y), num_boost_round=50)
booster.save_model(f"{out}/model.json")
print("trained", xgb.__version__)
"""#

/// Triton's Python HTTP client (tritonclient[http]) against the server: health, metadata and
/// inference with binary tensors on (its default) in FP32 and FP64 with NaN for missing values,
/// JSON tensors, and BYTES in binary form; predictions compared with XGBoost's own.
let tritonClientScript = #"""
import sys
import numpy as np
import xgboost as xgb
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model_file = sys.argv[1], sys.argv[2]
c = httpclient.InferenceServerClient(url=url)
assert c.is_server_live() and c.is_server_ready()
assert c.is_model_ready("xgb") and c.is_model_ready("xgb", "1")
server = c.get_server_metadata()
assert "binary_tensor_data" in server["extensions"], server
meta = c.get_model_metadata("xgb")
assert meta["platform"] == "xgboost_json" and len(meta["inputs"]) == 8, meta

rng = np.random.default_rng(5)
X = rng.normal(size=(257, 8))
X[rng.random(size=X.shape) < 0.15] = np.nan
booster = xgb.Booster(model_file=model_file)
worst = 0.0
for dtype, name in [(np.float32, "FP32"), (np.float64, "FP64")]:
    data = X.astype(dtype)
    want = booster.predict(xgb.DMatrix(data))
    for binary_in, binary_out in [(True, True), (True, None), (True, False), (False, False)]:
        if not binary_in and np.isnan(data).any():
            data = np.nan_to_num(data, nan=0.0)  # JSON has no NaN
            want = booster.predict(xgb.DMatrix(data))
        inp = httpclient.InferInput("input-0", list(data.shape), name)
        inp.set_data_from_numpy(data, binary_data=binary_in)
        outputs = None if binary_out is None else [httpclient.InferRequestedOutput("probability", binary_data=binary_out)]
        r = c.infer("xgb", [inp], outputs=outputs, request_id="req-%s" % name)
        got = r.as_numpy("probability")
        assert got.shape == (257,), got.shape
        worst = max(worst, float(np.max(np.abs(got - want))))
        assert r.get_response()["id"] == "req-%s" % name
# One tensor per feature (FP32, binary), a sparse client leaving one feature out.
inputs = []
for j in range(7):
    t = httpclient.InferInput("f%d" % j, [257], "FP32")
    t.set_data_from_numpy(X[:, j].astype(np.float32))
    inputs.append(t)
got = c.infer("xgb", inputs).as_numpy("probability")
Xs = X.astype(np.float32).copy(); Xs[:, 7] = np.nan
worst = max(worst, float(np.max(np.abs(got - booster.predict(xgb.DMatrix(Xs))))))
assert worst <= 1e-6, "max |sextant - xgboost| = %g" % worst

# A refusal comes back as the client's exception with the server's message.
bad = httpclient.InferInput("input-0", [2, 3], "FP32")
bad.set_data_from_numpy(np.zeros((2, 3), dtype=np.float32))
try:
    c.infer("xgb", [bad])
    raise SystemExit("a [2, 3] tensor was accepted")
except InferenceServerException as e:
    assert "expects [rows, 8]" in str(e), str(e)
print("tritonclient ok, max diff %.3g" % worst)
"""#

/// BYTES in binary form (4-byte length prefixes) for a categorical feature of a Sextant artifact.
let tritonBytesScript = #"""
import sys
import numpy as np
import tritonclient.http as httpclient
c = httpclient.InferenceServerClient(url=sys.argv[1])
amount = httpclient.InferInput("amount", [4], "FP64")
amount.set_data_from_numpy(np.array([20, 150, 150, np.nan]))
country = httpclient.InferInput("country", [4], "BYTES")
country.set_data_from_numpy(np.array([b"de", b"us", "fr".encode(), b"de"], dtype=np.object_))
p = c.infer("fraud", [amount, country]).as_numpy("probability")
sig = lambda m: 1 / (1 + np.exp(-m))
want = np.array([sig(-1), sig(0.5), sig(1.5), sig(-1)])
assert np.max(np.abs(p - want)) < 1e-12, p
print("bytes ok")
"""#

@Suite(.serialized) struct TritonClientTests {
    static func available() throws -> Bool {
        try Tooling.available("python3 with tritonclient[http], xgboost and numpy (hack/requirements-test.txt)",
                              Tooling.pythonHas(["tritonclient.http", "xgboost", "numpy"]))
    }

    @Test func tritonHTTPClientWithBinaryTensorsMatchesXGBoost() async throws {
        guard try Self.available() else { return }
        let dir = try TemporaryDirectory()
        try Data(tritonTrainScript.utf8).write(to: URL(fileURLWithPath: dir.file("train.py")))
        try Data(tritonClientScript.utf8).write(to: URL(fileURLWithPath: dir.file("client.py")))
        let trained = try await runClient("python3", [dir.file("train.py"), dir.path])
        try #require(trained.code == 0, "\(trained.output)")
        let model = try await ServedModel.load(uri: dir.file("model.json"), name: "xgb", version: "1")
        try await withServer(loadedState(model)) { base in
            let run = try await runClient("python3", [dir.file("client.py"), base.replacingOccurrences(of: "http://", with: ""),
                                                 dir.file("model.json")], environment: ["no_proxy": "*", "NO_PROXY": "*"])
            #expect(run.code == 0, "\(run.output)")
            #expect(run.output.contains("tritonclient ok"), "\(run.output)")
            print(String(run.output.split(separator: "\n").last ?? ""))
        }
    }

    @Test func tritonHTTPClientSendsBytesInBinary() async throws {
        guard try Self.available() else { return }
        let dir = try TemporaryDirectory()
        try Data(tritonBytesScript.utf8).write(to: URL(fileURLWithPath: dir.file("bytes.py")))
        try await withServer(loadedState(try artifactModel())) { base in
            let run = try await runClient("python3", [dir.file("bytes.py"), base.replacingOccurrences(of: "http://", with: "")],
                                     environment: ["no_proxy": "*", "NO_PROXY": "*"])
            #expect(run.code == 0 && run.output.contains("bytes ok"), "\(run.output)")
        }
    }
}
