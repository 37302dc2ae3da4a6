#!/usr/bin/env python3
"""One baseline run for hack/bench/trainer.sh: load the CSV with pandas, train XGBoost or LightGBM
on the rows marked "train" with the issue-7 parameters, score the "test" rows. Prints one JSON
line with load and train wall time, peak RSS and test AUC."""
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def main(lib: str, path: str, threads: int, rounds: int) -> None:
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    load = time.perf_counter() - t0
    features = [c for c in df.columns if c not in ("label", "split")]
    train = (df["split"] == "train").to_numpy()
    X = df[features].to_numpy(dtype=np.float32)
    y = df["label"].to_numpy()
    Xtr, ytr, Xte, yte = X[train], y[train], X[~train], y[~train]
    del df
    t1 = time.perf_counter()
    c1 = time.process_time()
    if lib == "xgboost":
        import xgboost as xgb
        model = xgb.XGBClassifier(n_estimators=rounds, max_depth=8, learning_rate=0.1, max_bin=256,
                                  tree_method="hist", n_jobs=threads, random_state=0)
        model.fit(Xtr, ytr)
    elif lib == "lightgbm":
        import lightgbm as lgb
        # Depthwise-equivalent capacity: max_depth 8 with up to 2^8 leaves.
        model = lgb.LGBMClassifier(n_estimators=rounds, max_depth=8, num_leaves=255, learning_rate=0.1,
                                   max_bin=255, n_jobs=threads, random_state=0, verbose=-1)
        model.fit(Xtr, ytr)
    else:
        raise SystemExit(f"unknown library {lib}")
    train_s = time.perf_counter() - t1
    # CPU time of fit() over all threads: on a loaded machine OpenMP workers spin, so wall and CPU
    # both say something.
    train_cpu_s = time.process_time() - c1
    p = model.predict_proba(Xte)[:, 1]
    auc = roc_auc_score(yte, p)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"trainer": lib, "load_s": round(load, 3), "train_s": round(train_s, 3),
                      "train_cpu_s": round(train_cpu_s, 3),
                      "peak_rss_mb": round(rss_mb, 1), "test_auc": round(float(auc), 6)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 200)
