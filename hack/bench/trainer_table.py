#!/usr/bin/env python3
"""Prints the trainer benchmark table from results.jsonl (one JSON object per trainer)."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {r["trainer"]: r for r in rows}
xgb = by.get("xgboost")
print(f"{'trainer':<10} {'load s':>8} {'train s':>8} {'ratio':>6} {'peak RSS MB':>12} {'test AUC':>9} {'dAUC':>8}")
for r in rows:
    ratio = r["train_s"] / xgb["train_s"] if xgb else float("nan")
    dauc = r["test_auc"] - xgb["test_auc"] if xgb else float("nan")
    print(f"{r['trainer']:<10} {r['load_s']:>8.2f} {r['train_s']:>8.2f} {ratio:>6.2f} {r['peak_rss_mb']:>12.0f} "
          f"{r['test_auc']:>9.5f} {dauc:>+8.5f}")
print("load s: read + parse CSV (sextant) / pandas.read_csv (python); train s: binning + boosting (fit);")
print("ratio: train time / XGBoost's; peak RSS: whole process (sextant includes the mmapped CSV pages).")
