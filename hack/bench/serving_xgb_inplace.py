"""XGBoost's own in-process batch prediction on the benchmark model: rows/s of
Booster.inplace_predict over 100-row float32 batches (the peer for the 100-row serving target),
with all cores (XGBoost's default) and with one thread.

usage: serving_xgb_inplace.py OUT_DIR   (after serving_train.py OUT_DIR)
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb

out = sys.argv[1]
booster = xgb.Booster(model_file=f"{out}/model/model.json")
X = np.asarray(json.load(open(f"{out}/body100.json"))["instances"], dtype=np.float32)
for threads in (0, 1):
    booster.set_param({"nthread": threads}) if threads else None
    for _ in range(200):
        booster.inplace_predict(X)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 3:
        booster.inplace_predict(X)
        n += 1
    seconds = time.perf_counter() - start
    label = "all cores" if threads == 0 else "1 thread"
    print(f"xgboost {xgb.__version__} inplace_predict, 100-row batches, {label}: {n * 100 / seconds:,.0f} rows/s")
