#!/usr/bin/env python3
"""Turns one sextant-trainer benchmark run (metrics.json timings, /usr/bin/time) into a JSON line
shaped like trainer_baseline.py's output."""
import json
import sys

d = sys.argv[1]
metrics = json.load(open(f"{d}/out-sextant/metrics.json"))
wall, rss_kb = open(f"{d}/time.txt").read().split()[-2:]
t = metrics["timings"]
print(json.dumps({
    "trainer": "sextant",
    "load_s": round(t.get("readSeconds", 0) + t.get("parseSeconds", 0), 3),
    # Comparable with XGBoost's fit(): quantile cuts + binning + boosting.
    "train_s": round(t.get("binSeconds", 0) + t.get("trainSeconds", 0), 3),
    "peak_rss_mb": round(int(rss_kb) / 1024, 1),
    "test_auc": round(metrics["test"]["aucRoc"], 6),
    "process_wall_s": float(wall),
    "hash_s": t.get("hashSeconds"),
}))
