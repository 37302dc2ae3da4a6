"""Trains the benchmark's XGBoost model and writes the wrk request bodies.

usage: serving_train.py OUT_DIR   ->  OUT_DIR/model/model.json, OUT_DIR/body1.json, OUT_DIR/body100.json,
                                      OUT_DIR/body100.bin (+ .header: the JSON part's length)
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
os.makedirs(f"{out}/model", exist_ok=True)
rng = np.random.default_rng(1)
n, f = 20000, 20
X = rng.normal(size=(n, f))
y = ((X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] + rng.normal(scale=0.5, size=n)) > 0).astype(int)
# 100 trees of depth 6: a typical tabular production model.
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2},
                    xgb.DMatrix(X, label=y), num_boost_round=100)
booster.save_model(f"{out}/model/model.json")
T = np.round(rng.normal(size=(100, f)), 6).tolist()
json.dump({"instances": T[:1]}, open(f"{out}/body1.json", "w"))
json.dump({"instances": T}, open(f"{out}/body100.json", "w"))
# The same 100 rows as an Open Inference Protocol request with binary tensor data (Triton's
# extension, tritonclient's default): the JSON part, then the rows as little-endian float32.
header = json.dumps({"inputs": [{"name": "input-0", "shape": [100, f], "datatype": "FP32",
                                 "parameters": {"binary_data_size": 100 * f * 4}}],
                     "outputs": [{"name": "probability", "parameters": {"binary_data": True}}]}).encode()
with open(f"{out}/body100.bin", "wb") as fh:
    fh.write(header + np.asarray(T, dtype="<f4").tobytes())
with open(f"{out}/body100.bin.header", "w") as fh:
    fh.write(str(len(header)))
print(f"model: 100 trees, depth 6, {f} features")
