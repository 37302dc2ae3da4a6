#!/usr/bin/env python3
"""Generate the trainer benchmark data set once (cached under .tmp/).

make_classification as in issue 7, plus a `split` column ("train"/"test") from a
stratified 80/20 split so that sextant-trainer, XGBoost and LightGBM train and
score exactly the same rows.
"""
import os
import sys

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split


def main(out: str, n: int) -> None:
    if os.path.exists(out):
        print(f"using cached {out}", file=sys.stderr)
        return
    X, y = make_classification(n_samples=n, n_features=28, n_informative=12,
                               weights=[0.97, 0.03], random_state=42)
    idx = np.arange(n)
    train_idx, _ = train_test_split(idx, test_size=0.2, stratify=y, random_state=42)
    split = np.full(n, "test", dtype=object)
    split[train_idx] = "train"
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(28)])
    df["label"] = y
    df["split"] = split
    tmp = out + ".partial"
    # %.9g round-trips float32 exactly (what XGBoost and LightGBM train on).
    df.to_csv(tmp, index=False, float_format="%.9g")
    os.replace(tmp, out)
    print(f"wrote {out}: {n} rows", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)
