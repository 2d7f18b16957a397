"""Benchmark: the scoring models on a million simulated customers, against lifetimes.

Run: ``python bench/scoring_fit.py [--customers 1000000] [--repeat 5] [--no-lifetimes]``

Simulates CDNOW-like customers (BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426; Gamma-Gamma
p=6.25, q=3.74, gamma=15.44; first purchases spread over 12 weeks, calibration 39 weeks),
turns them into dated transactions, and times each step of the crmhub pipeline: summary,
collapse, BG/NBD fit, Gamma-Gamma fit, and P(alive) + expected purchases + 12-month CLV
for everyone. In the same run, lifetimes (if installed) does the same steps on the same
data; the table shows the ratio and the largest relative parameter difference.

Timing: wall-clock and process CPU time; crmhub takes the best of ``--repeat`` runs,
lifetimes the best of ``--lifetimes-repeat`` runs (default 1: it is slow). Ratios use CPU
time, which is less disturbed by other processes on a shared machine. Memory: the
tracemalloc peak of each crmhub step (measured in a separate, untimed pass) and the
process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from crmhub.plugins.scoring.models import bgnbd, gamma_gamma, simulate, summary

BG = (0.243, 4.414, 0.793, 2.426)
GG = (6.25, 3.74, 15.44)
END = "1997-09-30"
PREDICT = "P(alive) + E[purchases] + CLV"


@dataclass(frozen=True)
class Timing:
    """Best wall-clock and CPU seconds over the runs."""

    wall: float
    cpu: float


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, Timing]:
    """Result of ``fn`` and its best wall and CPU time over ``repeat`` runs."""
    walls, cpus, result = [], [], None
    for _ in range(max(repeat, 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, Timing(min(walls), min(cpus))


def traced_peak(fn: Callable[[], Any]) -> float:
    """Peak traced allocation (MB) while ``fn`` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def max_rss_mb() -> float:
    """Maximum resident set size of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lifetimes_steps(tx: simulate.Transactions, s: summary.Summary) -> dict[str, Callable[[], Any]]:
    """The same steps done with lifetimes (pandas), or {} when it is not installed."""
    try:
        import lifetimes
        import pandas as pd
        from lifetimes.utils import summary_data_from_transaction_data
    except ImportError:
        print("lifetimes is not installed: no comparison")
        return {}
    warnings.simplefilter("ignore")
    frame = pd.DataFrame({"id": tx.customer, "date": tx.when, "amount": tx.amount})
    repeat = s.x > 0
    fitted: dict[str, Any] = {}

    def summarize() -> Any:
        return summary_data_from_transaction_data(
            frame,
            "id",
            "date",
            monetary_value_col="amount",
            observation_period_end=END,
            freq="D",
            freq_multiplier=7,
        )

    def fit_bg() -> Any:
        fitted["bg"] = lifetimes.BetaGeoFitter().fit(s.x, s.t_x, s.T)
        return fitted["bg"]

    def fit_gg() -> Any:
        fitted["gg"] = lifetimes.GammaGammaFitter().fit(
            pd.Series(s.x[repeat]), pd.Series(s.monetary[repeat])
        )
        return fitted["gg"]

    def predict() -> Any:
        bg, gg = fitted["bg"], fitted["gg"]
        bg.conditional_probability_alive(s.x, s.t_x, s.T)
        bg.conditional_expected_number_of_purchases_up_to_time(39.0, s.x, s.t_x, s.T)
        return gg.customer_lifetime_value(
            bg,
            pd.Series(s.x),
            pd.Series(s.t_x),
            pd.Series(s.T),
            pd.Series(s.monetary),
            time=12,
            discount_rate=0.01,
            freq="W",
        )

    return {"summary": summarize, "fit BG/NBD": fit_bg, "fit Gamma-Gamma": fit_gg, PREDICT: predict}


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lifetimes-repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-lifetimes", action="store_true")
    args = parser.parse_args()
    n = args.customers
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    ages = (273 - rng.integers(0, 84, n)) / 7.0
    sim = simulate.bgnbd(n, BG, ages, seed=rng)
    tx = simulate.transactions(sim, GG, calibration_end=END, seed=rng)
    print(
        f"simulated {n:,} customers, {tx.customer.size:,} transactions "
        f"in {time.perf_counter() - start:.2f} s"
    )

    # crmhub, step by step; each step feeds the next.
    ours: dict[str, Timing] = {}
    steps: dict[str, Callable[[], Any]] = {}
    steps["summary"] = lambda: summary.summarize(
        tx.customer, tx.when, tx.amount, calibration_end=END, time_unit="weeks"
    )
    s, ours["summary"] = timed(steps["summary"], args.repeat)
    steps["collapse"] = lambda: summary.collapse(s.x, s.t_x, s.T)
    rows, ours["collapse"] = timed(steps["collapse"], args.repeat)
    steps["fit BG/NBD"] = lambda: bgnbd.fit(rows.x, rows.t_x, rows.T, rows.weight)
    bg, ours["fit BG/NBD"] = timed(steps["fit BG/NBD"], args.repeat)
    steps["fit Gamma-Gamma"] = lambda: gamma_gamma.fit(s.x, s.monetary)
    gg, ours["fit Gamma-Gamma"] = timed(steps["fit Gamma-Gamma"], args.repeat)

    def predict() -> tuple[Any, Any, Any]:
        # Per distinct (x, t_x, T) row, expanded to every customer with the collapse inverse.
        alive = bg.p_alive(rows.x, rows.t_x, rows.T)[rows.inverse]
        expected = bg.expected_purchases(39.0, rows.x, rows.t_x, rows.T)[rows.inverse]
        value = gamma_gamma.clv(
            bg, gg, s.x, s.t_x, s.T, s.monetary, months=12, discount_rate=0.01, rows=rows
        )
        return alive, expected, value

    steps[PREDICT] = predict
    (alive, expected, value), ours[PREDICT] = timed(predict, args.repeat)
    rss_ours = max_rss_mb()
    peaks = {name: traced_peak(fn) for name, fn in steps.items()}

    # lifetimes, the same steps in the same run.
    theirs: dict[str, Timing] = {}
    ref: dict[str, Any] = {}
    if not args.no_lifetimes:
        for name, fn in lifetimes_steps(tx, s).items():
            ref[name], theirs[name] = timed(fn, args.lifetimes_repeat)

    print(
        f"\n{len(s):,} customers, {int((s.x > 0).sum()):,} repeat buyers, "
        f"{rows.x.size:,} distinct (x, t_x, T) rows\n"
    )
    print(
        "| step | crmhub wall (s) | crmhub CPU (s) | peak traced (MB) "
        "| lifetimes wall (s) | lifetimes CPU (s) | lifetimes / crmhub (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")

    def row(name: str, mine: Timing, peak: str, other: Timing | None) -> None:
        their_wall = f"{other.wall:.2f}" if other else "-"
        their_cpu = f"{other.cpu:.2f}" if other else "-"
        ratio = f"{other.cpu / mine.cpu:,.0f}x" if other else "-"
        print(
            f"| {name} | {mine.wall:.3f} | {mine.cpu:.3f} | {peak} | {their_wall} | "
            f"{their_cpu} | {ratio} |"
        )

    for name, mine in ours.items():
        row(name, mine, f"{peaks[name]:.0f}", theirs.get(name))
    both = Timing(
        ours["collapse"].wall + ours["fit BG/NBD"].wall,
        ours["collapse"].cpu + ours["fit BG/NBD"].cpu,
    )
    row("collapse + fit BG/NBD", both, "-", theirs.get("fit BG/NBD"))
    total = Timing(sum(t.wall for t in ours.values()), sum(t.cpu for t in ours.values()))
    all_theirs = (
        Timing(sum(t.wall for t in theirs.values()), sum(t.cpu for t in theirs.values()))
        if theirs
        else None
    )
    row("whole pipeline", total, f"{max(peaks.values()):.0f}", all_theirs)

    print("\n| model | parameter | true | crmhub | lifetimes | relative difference |")
    print("|---|---|---:|---:|---:|---:|")
    worst = 0.0
    for model, names, ref_names, truth, fit, key in [
        ("BG/NBD", ("r", "alpha", "a", "b"), ("r", "alpha", "a", "b"), BG, bg.params, "fit BG/NBD"),
        ("Gamma-Gamma", ("p", "q", "gamma"), ("p", "q", "v"), GG, gg.params, "fit Gamma-Gamma"),
    ]:
        their_fit = ref.get(key)
        for i, name in enumerate(names):
            if their_fit is not None:
                other = float(their_fit.params_[ref_names[i]])
                diff = abs(fit[i] / other - 1)
                worst = max(worst, diff)
                print(
                    f"| {model} | {name} | {truth[i]} | {fit[i]:.5f} | {other:.5f} | {diff:.1e} |"
                )
            else:
                print(f"| {model} | {name} | {truth[i]} | {fit[i]:.5f} | - | - |")

    print(
        f"\nconverged: BG/NBD {bg.converged} ({bg.iterations} iterations), "
        f"Gamma-Gamma {gg.converged} ({gg.iterations} iterations)"
    )
    if "fit BG/NBD" in theirs:
        print(f"largest relative parameter difference to lifetimes: {worst:.1e} (target <= 1e-3)")
        print(
            f"BG/NBD fit speed-up including collapse: "
            f"{theirs['fit BG/NBD'].cpu / both.cpu:,.0f}x CPU, "
            f"{theirs['fit BG/NBD'].wall / both.wall:,.0f}x wall (target >= 10x)"
        )
    print(f"max RSS: {rss_ours:,.0f} MB after the crmhub steps, {max_rss_mb():,.0f} MB at the end")
    print(
        f"sanity: mean P(alive) {alive.mean():.3f} (simulated alive share "
        f"{sim.alive.mean():.3f}), mean E[39 weeks] {expected.mean():.3f}, "
        f"mean CLV {np.nanmean(value):.2f}"
    )


if __name__ == "__main__":
    main()
