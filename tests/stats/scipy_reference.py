"""SciPy's answers for the fixtures of crates/sextant-stats/tests/it/scipy.rs.

Reads {"mwu": [{"id", "x", "y", "method"}], "wilcoxon": [{"id", "d", "method"}]} as JSON on
stdin and prints {"scipy": version, "mwu": [...], "wilcoxon": [...]} with each case's
statistic and p-value as SciPy computes them with its defaults (two-sided; mannwhitneyu:
use_continuity=True; wilcoxon: zero_method="wilcox", correction=False) and the requested
method ("auto", "exact" or "asymptotic"). NaN is printed as null.
"""

import json
import math
import sys
import warnings

import scipy
from scipy import stats


def num(v):
    v = float(v)
    return None if math.isnan(v) else v


def main():
    cases = json.load(sys.stdin)
    out = {"scipy": scipy.__version__, "mwu": [], "wilcoxon": []}
    with warnings.catch_warnings():
        # Exact p-values with ties, and all-zero differences, warn; the numbers are what we
        # compare.
        warnings.simplefilter("ignore")
        for c in cases["mwu"]:
            r = stats.mannwhitneyu(c["x"], c["y"], method=c["method"])
            out["mwu"].append({"id": c["id"], "statistic": num(r.statistic), "pvalue": num(r.pvalue)})
        for c in cases["wilcoxon"]:
            r = stats.wilcoxon(c["d"], method=c["method"])
            out["wilcoxon"].append({"id": c["id"], "statistic": num(r.statistic), "pvalue": num(r.pvalue)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
