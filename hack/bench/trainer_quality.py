#!/usr/bin/env python3
"""Quality table for sextant-trainer against XGBoost and LightGBM (issue 16).

Three binary data sets, generated with a fixed seed and cached under .tmp/trainer-quality/:

  longtail  a 250-level categorical with a Zipf-like long tail (many levels with a few rows and a
            strong random effect) plus 6 numeric features
  missing   8 numeric features with 15 % missing cells, part of them missing not at random
  presence  a feature whose only signal is whether it is present, plus 4 weak numeric features

Each CSV carries a `split` column (stratified 80/20, random_state fixed), so the three libraries
train and score exactly the same rows. Hyperparameters are matched: 200 rounds, depth 6, learning
rate 0.1, min_child_weight 1, lambda 1, 255 value bins (+ missing), 2 threads. LightGBM gets
num_leaves 63 (= 2^6 - 1, depth-limited), min_child_samples 1 (XGBoost has no row-count limit)
and its own categorical defaults; XGBoost gets enable_categorical with its defaults.

Then the other objectives, on the same kind of shared split (75/25, 10 % missing in one feature):

  regression  Friedman #1 (10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + N(0, 1)) plus 3 noise
              features: reg:squarederror, RMSE / MAE / R2
  weighted    the same with a weight column (4 where x0 > 0.5, whose target is shifted by 3, else
              0.5): weighted RMSE, sample_weight for every library
  poisson     counts with mean exp(f / 10 - 1): count:poisson, mean Poisson deviance
  multiclass  5 classes from a softmax over 8 features: multi:softprob, accuracy / log loss /
              macro-F1
  tweedie     compound Poisson-gamma (Poisson(exp(f / 10 - 1.5)) claims of Gamma(2, 1) each, 0 for
              no claim): reg:tweedie at variance power 1.5 (LightGBM tweedie), mean Tweedie deviance
  absolute    Friedman #1 plus Laplace(0, 2) noise: reg:absoluteerror (LightGBM regression_l1), MAE
  quantile    the same rows as absolute: reg:quantileerror at alpha 0.8 (LightGBM quantile), mean
              pinball loss

  python3 hack/bench/trainer_quality.py BIN [ROWS]        # both tables
  ONLY=objectives python3 hack/bench/trainer_quality.py BIN [ROWS]
  ONLY=objectives SETS=tweedie,absolute,quantile python3 hack/bench/trainer_quality.py BIN [ROWS]
Prints one row per (data set, library) and the gap of sextant to the better baseline.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

DIR = ".tmp/trainer-quality"
ROUNDS, DEPTH, ETA, THREADS = 200, 6, 0.1, int(os.environ.get("THREADS", "2"))


def longtail(n, rng):
    levels = 250
    weights = 1.0 / np.arange(1, levels + 1) ** 1.1
    cat = rng.choice(levels, size=n, p=weights / weights.sum())
    effect = rng.normal(0, 0.8, levels)
    X = rng.normal(size=(n, 6))
    logit = 0.8 * X[:, 0] - 0.6 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + effect[cat] - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    df["cat"] = [f"c{c}" for c in cat]
    return df, y, ["cat"]


def missing(n, rng):
    X = rng.normal(size=(n, 8))
    logit = 0.9 * X[:, 0] - 0.7 * X[:, 1] + 0.6 * X[:, 2] * X[:, 3] + 0.4 * X[:, 4] - 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    mask = rng.random((n, 8)) < 0.12
    # Not at random: x0 goes missing more often when it is large, x1 when the label is 1.
    mask[:, 0] |= (X[:, 0] > 1.0) & (rng.random(n) < 0.2)
    mask[:, 1] |= (y == 1) & (rng.random(n) < 0.1)
    X[mask] = np.nan
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(8)]), y, []


def presence(n, rng):
    y = (rng.random(n) < 0.5).astype(int)
    present = rng.random(n) < np.where(y == 1, 0.71, 0.29)
    p = np.where(present, rng.normal(size=n), np.nan)
    X = rng.normal(size=(n, 4)) + 0.15 * y[:, None] * np.array([1.0, 0.5, 0.0, 0.0])
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
    df["p"] = p
    return df, y, []


SETS = {"longtail": longtail, "missing": missing, "presence": presence}


def make(name, n):
    path = f"{DIR}/{name}-{n}.csv"
    if not os.path.exists(path):
        rng = np.random.default_rng(20261206 + list(SETS).index(name))
        df, y, _ = SETS[name](n, rng)
        train_idx, _ = train_test_split(np.arange(n), test_size=0.2, stratify=y, random_state=42)
        split = np.full(n, "test", dtype=object)
        split[train_idx] = "train"
        df["label"] = y
        df["split"] = split
        df.to_csv(path + ".partial", index=False, float_format="%.9g")
        os.replace(path + ".partial", path)
    return path


def load(path, cats):
    df = pd.read_csv(path, keep_default_na=True)
    features = [c for c in df.columns if c not in ("label", "split")]
    for c in cats:
        df[c] = df[c].astype("category")
    train = (df["split"] == "train").to_numpy()
    return df[features], df["label"].to_numpy(), train


def run_xgboost(X, y, train):
    import xgboost as xgb
    m = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=DEPTH, learning_rate=ETA, min_child_weight=1,
                          reg_lambda=1, max_bin=256, tree_method="hist", enable_categorical=True,
                          n_jobs=THREADS, random_state=0)
    t = time.perf_counter()
    m.fit(X[train], y[train])
    return time.perf_counter() - t, m.predict_proba(X[~train])[:, 1], m.predict_proba(X[train])[:, 1]


def run_lightgbm(X, y, train):
    import lightgbm as lgb
    m = lgb.LGBMClassifier(n_estimators=ROUNDS, max_depth=DEPTH, num_leaves=2 ** DEPTH - 1, learning_rate=ETA,
                           min_child_weight=1, min_child_samples=1, reg_lambda=1, max_bin=255,
                           n_jobs=THREADS, random_state=0, verbose=-1)
    t = time.perf_counter()
    m.fit(X[train], y[train])
    return time.perf_counter() - t, m.predict_proba(X[~train])[:, 1], m.predict_proba(X[train])[:, 1]


def run_sextant(binary, path, cats, name):
    out = f"{DIR}/out-{name}"
    config = {
        "modelName": f"quality-{name}", "data": {"uri": os.path.abspath(path)}, "target": "label",
        "categoricalFeatures": cats, "split": {"column": "split"}, "algorithm": "gradientBoosting",
        "hyperparameters": {"nEstimators": ROUNDS, "maxDepth": DEPTH, "learningRate": ETA, "minChildWeight": 1,
                            "regLambda": 1, "maxBin": 255, "threads": THREADS},
        "output": {"uri": os.path.abspath(out)},
    }
    if not cats:
        del config["categoricalFeatures"]
    cfg = f"{DIR}/config-{name}.json"
    with open(cfg, "w") as f:
        json.dump(config, f)
    subprocess.run([binary, "--config", cfg, "--quiet", "--result-file", f"{DIR}/result-{name}.json"], check=True)
    m = json.load(open(f"{out}/metrics.json"))
    t = m["timings"]
    return t.get("binSeconds", 0) + t.get("trainSeconds", 0), m["test"]["aucRoc"]


def friedman(n, rng):
    X = rng.random((n, 8))
    f = 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]
    return X, f


def objective_set(name, n):
    path = f"{DIR}/{name}-{n}.csv"
    if os.path.exists(path):
        return path
    kinds = ["regression", "weighted", "poisson", "multiclass", "tweedie", "absolute"]
    if name == "quantile":
        return objective_set("absolute", n)
    rng = np.random.default_rng(20261207 + kinds.index(name))
    if name == "multiclass":
        X = rng.normal(size=(n, 8))
        logits = np.stack([1.2 * X[:, 0], -X[:, 0] + X[:, 1], X[:, 1] * X[:, 2], 0.8 * X[:, 3] - 0.5,
                           0.6 * X[:, 4] + 0.4 * X[:, 5] * X[:, 0]], axis=1)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        y = (rng.random(n)[:, None] > p.cumsum(1)).sum(1)
    else:
        X, f = friedman(n, rng)
        if name == "poisson":
            y = rng.poisson(np.exp(f / 10 - 1)).astype(float)
        elif name == "tweedie":
            claims = rng.poisson(np.exp(f / 10 - 1.5))
            y = np.array([rng.gamma(2.0, 1.0, size=k).sum() for k in claims])
        elif name == "absolute":
            y = f + rng.laplace(scale=2.0, size=n)
        else:
            y = f + rng.normal(size=n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df.loc[rng.random(n) < 0.1, "x3"] = np.nan
    if name == "weighted":
        heavy = X[:, 0] > 0.5
        y = np.where(heavy, y + 3, y)
        df["w"] = np.where(heavy, 4.0, 0.5)
    df["label"] = y
    df["split"] = np.where(rng.random(n) < 0.25, "test", "train")
    df.to_csv(path + ".partial", index=False, float_format="%.9g")
    os.replace(path + ".partial", path)
    return path


OBJECTIVES = {"regression": "reg:squarederror", "weighted": "reg:squarederror", "poisson": "count:poisson",
              "multiclass": "multi:softprob", "tweedie": "reg:tweedie", "absolute": "reg:absoluteerror",
              "quantile": "reg:quantileerror"}
TWEEDIE_POWER = 1.5
QUANTILE_ALPHA = 0.8
# Per objective: (XGBoost parameters, LightGBM objective and parameters, sextant hyperparameters, metric compared).
OBJECTIVE_SETTINGS = {
    "reg:squarederror": ({}, ("regression", {}), {}, "rmse"),
    "count:poisson": ({}, ("poisson", {}), {}, "poissonDeviance"),
    "multi:softprob": ({}, ("multiclass", {}), {}, "logLoss"),
    "reg:tweedie": ({"tweedie_variance_power": TWEEDIE_POWER}, ("tweedie", {"tweedie_variance_power": TWEEDIE_POWER}),
                    {"tweedieVariancePower": TWEEDIE_POWER}, "tweedieDeviance"),
    "reg:absoluteerror": ({}, ("regression_l1", {}), {}, "mae"),
    "reg:quantileerror": ({"quantile_alpha": QUANTILE_ALPHA}, ("quantile", {"alpha": QUANTILE_ALPHA}),
                          {"quantileAlpha": QUANTILE_ALPHA}, "pinballLoss"),
}


def objective_scores(objective, y, p, w):
    from sklearn import metrics as M
    if objective == "multi:softprob":
        return {"accuracy": M.accuracy_score(y, p.argmax(1), sample_weight=w), "logLoss": M.log_loss(y, p, sample_weight=w),
                "macroF1": M.f1_score(y, p.argmax(1), average="macro")}
    out = {"rmse": M.root_mean_squared_error(y, p, sample_weight=w), "mae": M.mean_absolute_error(y, p, sample_weight=w),
           "r2": M.r2_score(y, p, sample_weight=w)}
    if objective == "count:poisson":
        out["poissonDeviance"] = M.mean_poisson_deviance(y, p, sample_weight=w)
    if objective == "reg:tweedie":
        out["tweedieDeviance"] = M.mean_tweedie_deviance(y, p, sample_weight=w, power=TWEEDIE_POWER)
    if objective == "reg:quantileerror":
        out["pinballLoss"] = M.mean_pinball_loss(y, p, sample_weight=w, alpha=QUANTILE_ALPHA)
    return out


def objectives_table(binary, n):
    import lightgbm as lgb
    import xgboost as xgb
    print()
    print(f"{n} rows per set, 75/25 split, {ROUNDS} rounds, depth {DEPTH}, eta {ETA}, {THREADS} threads")
    print(f"{'set':<11} {'trainer':<9} {'train s':>8} {'ratio':>6}  metrics (test)")
    only = set(filter(None, os.environ.get("SETS", "").split(",")))
    for name, objective in OBJECTIVES.items():
        if only and name not in only:
            continue
        xextra, (lobj, lextra), sextra, key = OBJECTIVE_SETTINGS[objective]
        path = objective_set(name, n)
        df = pd.read_csv(path)
        train = (df["split"] == "train").to_numpy()
        X = df.drop(columns=[c for c in ("label", "split", "w") if c in df.columns])
        y = df["label"].to_numpy()
        w = df["w"].to_numpy() if "w" in df.columns else None
        wtr, wte = (None, None) if w is None else (w[train], w[~train])
        multi = objective == "multi:softprob"
        rows = {}
        common = dict(n_estimators=ROUNDS, max_depth=DEPTH, learning_rate=ETA, n_jobs=THREADS, random_state=0)
        xm = (xgb.XGBClassifier if multi else xgb.XGBRegressor)(objective=objective, min_child_weight=1, reg_lambda=1,
                                                                 max_bin=256, tree_method="hist", **xextra, **common)
        lm = (lgb.LGBMClassifier if multi else lgb.LGBMRegressor)(objective=lobj, num_leaves=2 ** DEPTH - 1, min_child_weight=1,
                                                                  min_child_samples=1, reg_lambda=1, max_bin=255, verbose=-1,
                                                                  **lextra, **common)
        for lib, m in (("xgboost", xm), ("lightgbm", lm)):
            t = time.perf_counter()
            m.fit(X[train], y[train], sample_weight=wtr)
            secs = time.perf_counter() - t
            p = m.predict_proba(X[~train]) if multi else m.predict(X[~train])
            rows[lib] = (secs, objective_scores(objective, y[~train], np.asarray(p, dtype=float), wte))
        out = f"{DIR}/out-{name}"
        config = {"modelName": f"quality-{name}", "data": {"uri": os.path.abspath(path)}, "target": "label",
                  "objective": objective, "split": {"column": "split"},
                  "hyperparameters": {"nEstimators": ROUNDS, "maxDepth": DEPTH, "learningRate": ETA, "minChildWeight": 1,
                                      "regLambda": 1, "maxBin": 255, "threads": THREADS, **sextra},
                  "output": {"uri": os.path.abspath(out)}}
        if w is not None:
            config["weightColumn"] = "w"
        cfg = f"{DIR}/config-{name}.json"
        with open(cfg, "w") as f:
            json.dump(config, f)
        subprocess.run([binary, "--config", cfg, "--quiet", "--result-file", f"{DIR}/result-{name}.json"], check=True)
        mj = json.load(open(f"{out}/metrics.json"))
        names = list(rows["xgboost"][1])
        rows["sextant"] = (mj["timings"].get("binSeconds", 0) + mj["timings"].get("trainSeconds", 0),
                           {k: mj["test"][k] for k in names})
        for lib in ("sextant", "xgboost", "lightgbm"):
            secs, scores = rows[lib]
            text = "  ".join(f"{k} {v:.5f}" for k, v in scores.items())
            print(f"{name:<11} {lib:<9} {secs:>8.2f} {secs / rows['xgboost'][0]:>6.2f}  {text}")
        ours, theirs = rows["sextant"][1][key], rows["xgboost"][1][key]
        line = f"{name:<11} {key} sextant / xgboost = {ours / theirs:.4f}"
        if multi:
            line += f"; accuracy gap {rows['sextant'][1]['accuracy'] - rows['xgboost'][1]['accuracy']:+.4f}"
        print(line + " (target: within 1 % of XGBoost)")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    os.makedirs(DIR, exist_ok=True)
    if os.environ.get("ONLY") == "objectives":
        objectives_table(binary, n)
        return
    print(f"{n} rows per set, 80/20 split, {ROUNDS} rounds, depth {DEPTH}, eta {ETA}, {THREADS} threads")
    print(f"{'set':<9} {'trainer':<9} {'train s':>8} {'ratio':>6} {'train AUC':>10} {'test AUC':>9} {'gap to best':>12}")
    worst = None
    for name in SETS:
        path = make(name, n)
        cats = ["cat"] if name == "longtail" else []
        X, y, train = load(path, cats)
        rows = {}
        for lib, fn in (("xgboost", run_xgboost), ("lightgbm", run_lightgbm)):
            secs, p, ptr = fn(X, y, train)
            rows[lib] = (secs, roc_auc_score(y[train], ptr), roc_auc_score(y[~train], p))
        secs, auc = run_sextant(binary, path, cats, name)
        rows["sextant"] = (secs, float("nan"), auc)
        best = max(rows["xgboost"][2], rows["lightgbm"][2])
        for lib in ("sextant", "xgboost", "lightgbm"):
            s, tr, te = rows[lib]
            print(f"{name:<9} {lib:<9} {s:>8.2f} {s / rows['xgboost'][0]:>6.2f} {tr:>10.5f} {te:>9.5f} {te - best:>+12.5f}")
        gap = rows["sextant"][2] - best
        worst = gap if worst is None else min(worst, gap)
    print(f"worst sextant gap to the better of XGBoost/LightGBM: {worst:+.5f} (target >= -0.002)")
    print("train s: fit time (sextant: binning + boosting from metrics.json); ratio: to XGBoost; "
          "train AUC not reported for sextant (not in metrics.json)")
    objectives_table(binary, n)


if __name__ == "__main__":
    main()
