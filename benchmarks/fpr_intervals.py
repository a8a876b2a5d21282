"""How many held-out normal images a decision threshold needs: the range (90 % of the time) of the false-positive
rate new normal images get from a threshold set on n of them, at targets of 5 % and 1% (`Decision.fpr_interval`,
exact for continuous scores), and a simulation that checks it; then how many normals keep that range within
±50 % and ±20 % of the target (`Decision.normals_needed`).

    python benchmarks/fpr_intervals.py > results/fpr-intervals.txt
"""

from __future__ import annotations

import numpy as np

from oneclass.core import Decision


def main() -> None:
    rng = np.random.default_rng(0)
    print("target  n normals  90% range of the FPR on new normals  simulated (4000 draws of uniform scores)")
    for fpr in (0.05, 0.01):
        for n in (20, 25, 50, 100, 200, 500, 1000, 2000):
            lo, hi = Decision(threshold=0.0, low=0.0, fpr=fpr, n=n).fpr_interval()
            rates = [1 - np.quantile(rng.random(n), 1 - fpr, method="higher") for _ in range(4000)]
            sim = np.quantile(rates, [0.05, 0.95])
            print(f"{fpr:6.0%}  {n:9d}  {lo:6.2%} to {hi:6.2%}{'':21s}{sim[0]:6.2%} to {sim[1]:6.2%}")
    print("\nnormals needed for the 90% range to stay within the target × (1 ± within), for every n from then on "
          "(Decision.normals_needed)")
    for fpr in (0.05, 0.01):
        for within in (0.5, 0.2):
            print(f"target {fpr:.0%}, within ±{within:.0%} ({fpr * (1 - within):.2%} to {fpr * (1 + within):.2%}): "
                  f"{Decision.normals_needed(fpr, within)}")


if __name__ == "__main__":
    main()
