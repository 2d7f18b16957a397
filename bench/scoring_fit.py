"""Benchmark: the scoring models on a million simulated customers, against lifetimes.

Run: ``python bench/scoring_fit.py [--customers 1000000] [--repeat 3] [--no-lifetimes]``

Simulates CDNOW-like customers (BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426; Gamma-Gamma
p=6.25, q=3.74, gamma=15.44; first purchases spread over 12 weeks, calibration 39 weeks),
turns them into dated transactions, and times each step of the crmhub pipeline: summary,
collapse, BG/NBD fit, Gamma-Gamma fit, and P(alive) + expected purchases + 12-month CLV
for everyone. In the same run, lifetimes (if installed) fits the same summary data; the
table shows the ratio and the largest relative parameter difference. Timings are the
median of ``--repeat`` runs for crmhub and one run for lifetimes; peak memory is the
tracemalloc peak of each crmhub step (measured in a separate, untimed pass) and the
process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from crmhub.plugins.scoring.models import bgnbd, gamma_gamma, simulate, summary

BG = (0.243, 4.414, 0.793, 2.426)
GG = (6.25, 3.74, 15.44)
END = "1997-09-30"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """Result of ``fn`` and the median wall time of ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-lifetimes", action="store_true")
    args = parser.parse_args()
    n = args.customers
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    ages = (273 - rng.integers(0, 84, n)) / 7.0
    sim = simulate.bgnbd(n, BG, ages, seed=rng)
    tx = simulate.transactions(sim, GG, calibration_end=END, seed=rng)
    simulated = time.perf_counter() - start
    print(f"simulated {n:,} customers, {tx.customer.size:,} transactions in {simulated:.2f} s")

    steps: dict[str, Callable[[], Any]] = {}
    steps["summary"] = lambda: summary.summarize(
        tx.customer, tx.when, tx.amount, calibration_end=END, time_unit="weeks"
    )
    s, t_summary = timed(steps["summary"], args.repeat)
    steps["collapse"] = lambda: summary.collapse(s.x, s.t_x, s.T)
    rows, t_collapse = timed(steps["collapse"], args.repeat)
    steps["fit BG/NBD"] = lambda: bgnbd.fit(rows.x, rows.t_x, rows.T, rows.weight)
    bg, t_bg = timed(steps["fit BG/NBD"], args.repeat)
    steps["fit Gamma-Gamma"] = lambda: gamma_gamma.fit(s.x, s.monetary)
    gg, t_gg = timed(steps["fit Gamma-Gamma"], args.repeat)

    def predict() -> tuple[Any, Any, Any]:
        # Per distinct (x, t_x, T) row, expanded to every customer with the collapse inverse.
        alive = bg.p_alive(rows.x, rows.t_x, rows.T)[rows.inverse]
        expected = bg.expected_purchases(39.0, rows.x, rows.t_x, rows.T)[rows.inverse]
        value = gamma_gamma.clv(
            bg, gg, s.x, s.t_x, s.T, s.monetary, months=12, discount_rate=0.01, rows=rows
        )
        return alive, expected, value

    steps["P(alive) + E[purchases] + CLV"] = predict
    (alive, expected, value), t_predict = timed(predict, args.repeat)
    ours = {
        "summary": t_summary,
        "collapse": t_collapse,
        "fit BG/NBD": t_bg,
        "fit Gamma-Gamma": t_gg,
        "P(alive) + E[purchases] + CLV": t_predict,
    }
    rss_ours = max_rss_mb()
    peaks = {name: traced_peak(fn) for name, fn in steps.items()}

    theirs: dict[str, float] = {}
    ref_params: dict[str, tuple[float, ...]] = {}
    if not args.no_lifetimes:
        try:
            import lifetimes
            import pandas as pd
            from lifetimes.utils import summary_data_from_transaction_data
        except ImportError:
            print("lifetimes is not installed: no comparison")
        else:
            warnings.simplefilter("ignore")
            frame = pd.DataFrame({"id": tx.customer, "date": tx.when, "amount": tx.amount})
            start = time.perf_counter()
            summary_data_from_transaction_data(
                frame,
                "id",
                "date",
                monetary_value_col="amount",
                observation_period_end=END,
                freq="D",
                freq_multiplier=7,
            )
            theirs["summary"] = time.perf_counter() - start
            start = time.perf_counter()
            ref_bg = lifetimes.BetaGeoFitter().fit(s.x, s.t_x, s.T)
            theirs["fit BG/NBD"] = time.perf_counter() - start
            ref_params["BG/NBD"] = tuple(ref_bg.params_[k] for k in ("r", "alpha", "a", "b"))
            repeat = s.x > 0
            start = time.perf_counter()
            ref_gg = lifetimes.GammaGammaFitter().fit(
                pd.Series(s.x[repeat]), pd.Series(s.monetary[repeat])
            )
            theirs["fit Gamma-Gamma"] = time.perf_counter() - start
            ref_params["Gamma-Gamma"] = tuple(ref_gg.params_[k] for k in ("p", "q", "v"))
            start = time.perf_counter()
            ref_bg.conditional_probability_alive(s.x, s.t_x, s.T)
            ref_bg.conditional_expected_number_of_purchases_up_to_time(39.0, s.x, s.t_x, s.T)
            ref_gg.customer_lifetime_value(
                ref_bg,
                pd.Series(s.x),
                pd.Series(s.t_x),
                pd.Series(s.T),
                pd.Series(s.monetary),
                time=12,
                discount_rate=0.01,
                freq="W",
            )
            theirs["P(alive) + E[purchases] + CLV"] = time.perf_counter() - start

    print(
        f"\n{len(s):,} customers, {int((s.x > 0).sum()):,} repeat buyers, "
        f"{rows.x.size:,} distinct (x, t_x, T) rows"
    )
    print("\n| step | crmhub (s) | peak traced (MB) | lifetimes (s) | lifetimes / crmhub |")
    print("|---|---:|---:|---:|---:|")
    for name, t in ours.items():
        ref = theirs.get(name)
        ref_txt = f"{ref:.2f}" if ref is not None else "-"
        ratio = f"{ref / t:,.0f}x" if ref is not None else "-"
        print(f"| {name} | {t:.3f} | {peaks[name]:.0f} | {ref_txt} | {ratio} |")
    if "fit BG/NBD" in theirs:
        ours_fit = t_collapse + t_bg
        print(
            f"| collapse + fit BG/NBD | {ours_fit:.3f} | - | {theirs['fit BG/NBD']:.2f} | "
            f"{theirs['fit BG/NBD'] / ours_fit:,.0f}x |"
        )
    total = sum(ours.values())
    complete = len(theirs) == len(ours) - 1  # lifetimes has no collapse step
    print(
        f"| whole pipeline | {total:.3f} | {max(peaks.values()):.0f} | "
        f"{sum(theirs.values()) if theirs else float('nan'):.2f} | "
        f"{(sum(theirs.values()) / total) if complete else float('nan'):,.0f}x |"
    )

    print("\n| model | parameter | true | crmhub | lifetimes | relative difference |")
    print("|---|---|---:|---:|---:|---:|")
    worst = 0.0
    for model, names, truth, fit in [
        ("BG/NBD", ("r", "alpha", "a", "b"), BG, bg.params),
        ("Gamma-Gamma", ("p", "q", "gamma"), GG, gg.params),
    ]:
        theirs_fit = ref_params.get(model)
        for i, name in enumerate(names):
            diff = abs(fit[i] / theirs_fit[i] - 1) if theirs_fit else float("nan")
            worst = max(worst, diff) if theirs_fit else worst
            ref_txt = f"{theirs_fit[i]:.5f}" if theirs_fit else "-"
            print(f"| {model} | {name} | {truth[i]} | {fit[i]:.5f} | {ref_txt} | {diff:.1e} |")
    print(
        f"\nconverged: BG/NBD {bg.converged} ({bg.iterations} iterations), "
        f"Gamma-Gamma {gg.converged} ({gg.iterations} iterations)"
    )
    if ref_params:
        print(f"largest relative parameter difference to lifetimes: {worst:.1e} (target <= 1e-3)")
        speedup = theirs["fit BG/NBD"] / (t_collapse + t_bg)
        print(f"BG/NBD fit speed-up incl. collapse: {speedup:,.0f}x (target >= 10x)")
    print(f"max RSS: {rss_ours:,.0f} MB after the crmhub steps, {max_rss_mb():,.0f} MB at the end")
    print(
        f"sanity: mean P(alive) {alive.mean():.3f} (simulated alive share {sim.alive.mean():.3f}), "
        f"mean E[39 weeks] {expected.mean():.3f}, mean CLV {np.nanmean(value):.2f}"
    )


if __name__ == "__main__":
    main()
