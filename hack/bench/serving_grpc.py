"""gRPC side of the serving benchmark (Open Inference Protocol V2, `inference.GRPCInferenceService`).

usage: serving_grpc.py body OUT_DIR              -> OUT_DIR/body100.grpc: the 100 rows of body100.json as
                                                   one ModelInferRequest (raw FP32 [100, 20]) in gRPC's
                                                   length-prefixed framing, for h2load
       serving_grpc.py check HOST:PORT OUT_DIR   -> sends that request with grpcio and compares the
                                                   probabilities with OUT_DIR/s.json (sextant's V1 answer)
Messages from tritonclient's protobuf module (the same package and field numbers as KServe's proto).
"""
import json
import struct
import sys

import numpy as np
from tritonclient.grpc import service_pb2 as pb


def request(out):
    rows = np.asarray(json.load(open(f"{out}/body100.json"))["instances"], dtype="<f4")
    req = pb.ModelInferRequest(model_name="bench")
    req.inputs.add(name="input-0", datatype="FP32", shape=list(rows.shape))
    req.raw_input_contents.append(rows.tobytes())
    return req


if sys.argv[1] == "body":
    out = sys.argv[2]
    msg = request(out).SerializeToString()
    with open(f"{out}/body100.grpc", "wb") as fh:
        fh.write(b"\x00" + struct.pack(">I", len(msg)) + msg)
else:
    import grpc
    from tritonclient.grpc import service_pb2_grpc as rpc
    url, out = sys.argv[2], sys.argv[3]
    stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))
    r = stub.ModelInfer(request(out), timeout=30)
    raw = r.raw_output_contents[0] if r.raw_output_contents else None
    out0 = r.outputs[0]
    dtype = {"FP32": "<f4", "FP64": "<f8"}[out0.datatype]
    got = np.frombuffer(raw, dtype=dtype) if raw is not None else np.array(out0.contents.fp64_contents or out0.contents.fp32_contents)
    want = np.array(json.load(open(f"{out}/s.json"))["predictions"])
    d = float(np.max(np.abs(got.astype(np.float64) - want)))
    print(f"gRPC {url}: {len(got)} predictions, max |grpc - sextant V1| = {d:.2e}")
    assert len(got) == 100 and d <= 1e-6
