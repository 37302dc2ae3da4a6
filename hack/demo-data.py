#!/usr/bin/env python3
"""Writes the synthetic fraud data set of the local demo (manifests/examples/local/).

Usage: hack/demo-data.py [OUT.csv] [--rows N] [--seed S] [--drift]

Columns amount, hour, merchant_risk, distance_km, is_fraud. A transaction is fraud when it is
large, at night and at a risky merchant (with some noise); distance_km carries no signal.
--drift flips the labels (a concept drift: retraining on this data gives a different model).
Deterministic for a given seed. Default output: .tmp/demo/fraud.csv.
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
    args = parser.parse_args()

    rng = random.Random(args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    frauds = 0
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("amount,hour,merchant_risk,distance_km,is_fraud\n")
        for _ in range(args.rows):
            amount = round(rng.uniform(0, 1000))
            hour = rng.randrange(24)
            risk = round(rng.random(), 2)
            distance = round(rng.uniform(0, 500))
            night = 1.0 if hour < 6 or hour >= 22 else 0.0
            score = 0.004 * amount + 1.5 * night + 2.5 * risk - 4.3 + rng.gauss(0, 0.4)
            fraud = score > 0
            if args.drift:
                fraud = not fraud
            frauds += fraud
            f.write(f"{amount},{hour},{risk},{distance},{int(fraud)}\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.rows} rows ({frauds} fraud) to {args.out}")


if __name__ == "__main__":
    main()
