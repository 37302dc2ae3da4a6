#!/usr/bin/env python3
"""Writes the synthetic fraud data set of the local demo (manifests/examples/local/).

Usage: hack/demo-data.py [OUT.csv] [--rows N] [--seed S] [--drift]
       hack/demo-data.py --delta DIR [--rows N] [--seed S]

Columns amount, hour, merchant_risk, distance_km, is_fraud. A transaction is fraud when it is
large, at night and at a risky merchant (with some noise); distance_km carries no signal.
--drift flips the labels (a concept drift: retraining on this data gives a different model).
Deterministic for a given seed. Default output: .tmp/demo/fraud.csv.

--delta DIR writes the data as a Delta Lake table instead (with delta-rs, the `deltalake`
package): version 0 the rows, version 1 an append of as many more, a checkpoint at version 1
(`create_checkpoint()`), version 2 an overwrite with drifted labels. The local demo's Delta
TrainingJob (manifests/examples/local/trainingjob-delta.yaml) pins version 1, so a retrain reads
the same files while the table has moved on.
"""
import argparse
import os
import random


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=".tmp/demo/fraud.csv")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift", action="store_true")
    parser.add_argument("--delta", metavar="DIR", help="write a Delta table at DIR instead of a CSV")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    if args.delta:
        write_delta(args.delta, rng, args.rows)
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    frauds = 0
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("amount,hour,merchant_risk,distance_km,is_fraud\n")
        for amount, hour, risk, distance, fraud in rows(rng, args.rows, args.drift):
            frauds += fraud
            f.write(f"{amount},{hour},{risk},{distance},{fraud}\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.rows} rows ({frauds} fraud) to {args.out}")


def rows(rng: random.Random, n: int, drift: bool):
    """(amount, hour, merchant_risk, distance_km, is_fraud) tuples."""
    for _ in range(n):
        amount = round(rng.uniform(0, 1000))
        hour = rng.randrange(24)
        risk = round(rng.random(), 2)
        distance = round(rng.uniform(0, 500))
        night = 1.0 if hour < 6 or hour >= 22 else 0.0
        score = 0.004 * amount + 1.5 * night + 2.5 * risk - 4.3 + rng.gauss(0, 0.4)
        fraud = score > 0
        if drift:
            fraud = not fraud
        yield amount, hour, risk, distance, int(fraud)


def write_delta(path: str, rng: random.Random, n: int) -> None:
    try:
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake
    except ImportError as e:
        raise SystemExit(f"--delta needs deltalake and pyarrow (pip install -r hack/requirements-test.txt): {e}")
    import shutil
    shutil.rmtree(path, ignore_errors=True)

    def table(drift: bool):
        cols = list(zip(*rows(rng, n, drift)))
        return pa.table({"amount": pa.array(cols[0], pa.int64()), "hour": pa.array(cols[1], pa.int64()),
                         "merchant_risk": pa.array(cols[2], pa.float64()),
                         "distance_km": pa.array(cols[3], pa.int64()), "is_fraud": pa.array(cols[4], pa.int64())})

    write_deltalake(path, table(False))
    write_deltalake(path, table(False), mode="append")
    DeltaTable(path).create_checkpoint()
    write_deltalake(path, table(True), mode="overwrite")
    print(f"wrote a Delta table at {path}: versions 0-2 ({n} rows, +{n} rows, drifted overwrite), checkpoint at 1")

if __name__ == "__main__":
    main()
