"""Trains the benchmark's XGBoost model and writes the wrk request bodies.

usage: serving_train.py OUT_DIR   ->  OUT_DIR/model/model.json, OUT_DIR/body1.json, OUT_DIR/body100.json
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
print(f"model: 100 trees, depth 6, {f} features")
