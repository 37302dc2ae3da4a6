#!/usr/bin/env python3
"""Reference computation for the sequential comparison (docs/canary.md#comparison), in numpy and
scipy, independent of the Swift code: the same simulated rollouts as
Tests/SextantDomainTests/SequentialComparisonTests.swift (100 requests/s split by the canary
weight, counters scraped every 15 s, one look a minute on the counts since the rollout started,
steps 10/25/50 % each advanced by a passing look, a failing look rolls back), with more rollouts.

    python3 hack/sequential-comparison-reference.py [ROLLOUTS] [SEED]
"""
import math
import sys

import numpy as np
from scipy.stats import norm


def log_mixture(s, v, rho):
    a = rho + v
    return math.log(2) + 0.5 * math.log(rho / a) + s * s / (2 * a) + float(norm.logcdf(s / math.sqrt(a)))


def decide(xs, ns, xc, nc, delta, confidence=0.95, min_samples=200):
    if ns < min_samples or nc < min_samples:
        return "insufficient"
    ps, pc = (xs + 0.5) / (ns + 1), (xc + 0.5) / (nc + 1)
    v = 1 / (pc * (1 - pc) / nc + ps * (1 - ps) / ns)
    s = (xc / nc - xs / ns + delta) * v
    tau = delta if delta > 0 else 0.01
    alpha = 1 - confidence
    if log_mixture(-s, v, 1 / tau**2) > -math.log(alpha):
        return "fail"
    if log_mixture(s, v, 1 / tau**2) > -math.log(alpha):
        return "pass"
    return "inconclusive"


def simulate(p_stable, p_canary, delta, rollouts, rng):
    weights = [10, 25, 50]
    rolled_back = promoted = 0
    times = []
    for _ in range(rollouts):
        xs = ns = xc = nc = 0
        step, decided, outcome = 0, None, None
        for minute in range(1, 121):
            to_canary = 1500 * weights[step] // 100
            to_stable = 1500 - to_canary
            nc += 4 * to_canary
            ns += 4 * to_stable
            xc += rng.binomial(4 * to_canary, p_canary)
            xs += rng.binomial(4 * to_stable, p_stable)
            d = decide(xs, ns, xc, nc, delta)
            if d == "fail":
                outcome = "rolledBack"
            elif d == "pass":
                decided = decided or minute
                step += 1
                if step == len(weights):
                    outcome = "promoted"
            if outcome == "rolledBack" and decided is None:
                decided = minute
            if outcome:
                break
        rolled_back += outcome == "rolledBack"
        promoted += outcome == "promoted"
        if decided:
            times.append(decided)
    return rolled_back / rollouts, promoted / rollouts, (float(np.median(times)) if times else float("nan"))


def main():
    rollouts = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 18)
    for name, ps, pc, delta in [
        ("equal (98 % vs 98 %, δ 1 point)", 0.98, 0.98, 0.01),
        ("at the margin (98 % vs 97 %, δ 1 point)", 0.98, 0.97, 0.01),
        ("equal, no margin (98 % vs 98 %, δ 0)", 0.98, 0.98, 0.0),
        ("2 points worse (98 % vs 96 %, δ 1 point)", 0.98, 0.96, 0.01),
    ]:
        back, promoted, median = simulate(ps, pc, delta, rollouts, rng)
        print(f"{name}: {rollouts} rollouts, rolled back {100 * back:.1f} %, promoted {100 * promoted:.1f} %, "
              f"median time to decision {median:.0f} min")


if __name__ == "__main__":
    main()
