"""Benchmark: the scoring plugin on 1,000,000 customers and ~10,000,000 orders in PostgreSQL.

    python bench/scoring.py                      # generate, then measure
    python bench/scoring.py --customers 100000   # smaller
    python bench/scoring.py --reuse              # skip generation (database kept from a run)

Data (see bench/scoring_data.py, not timed) goes into a database of its own on the test
server (``--server``). Then, each phase in a fresh process so its peak memory is its own:

1. **statistics refresh**: ``crmhub score rebuild-stats`` (core's set-based rebuild of
   ``customer_stats`` from every order);
2. **scoring**, end to end: read the summary and the health inputs, RFM, BG/NBD +
   Gamma-Gamma fit, P(alive), expected purchases, CLV, churn, health, explanations, and
   the write-back of every ``customer_score`` row (+ history), as ``crmhub score`` runs it;
3. **historical scoring** (``--as-of`` 90 days earlier: the summary comes from orders);
4. **lifetimes**: ``BetaGeoFitter`` and ``GammaGammaFitter`` fitted on the same summary
   (read with the scorer's own loader), compared with the scorer's fit: time ratio and
   the largest relative parameter difference.

Times: wall clock, CPU seconds of the Python process, and CPU seconds of the PostgreSQL
backend serving it (read from /proc; parallel query workers not included). The machine
is shared: wall times move with the load, CPU times much less. Memory: the peak resident
set (VmHWM) of each phase's own process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
import warnings
from typing import Any

SERVER = os.environ.get("CRMHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = "crmhub_bench_scoring"
SETTINGS = {"time_unit": "weeks", "model": "bgnbd", "compare_models": [], "horizon_days": 365}
TICKS = os.sysconf("SC_CLK_TCK")


def _hub(url: str, settings: dict[str, Any]) -> Any:
    from crmhub.core.hub import create_hub
    from crmhub.core.settings import load_settings

    return create_hub(load_settings(None, hub={"database_url": url}, plugins={"scoring": {"main": settings}}),
                      migrate_embedded=False)


def _backend_cpu(hub: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends of the hub's pool."""
    total = 0.0
    for pid in _PIDS:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except OSError:
            pass
    return total


_PIDS: set[int] = set()


def _track_backends(hub: Any) -> None:
    from sqlalchemy import event

    @event.listens_for(hub.engine, "connect")
    def remember(dbapi_connection: Any, _record: Any) -> None:
        _PIDS.add(dbapi_connection.info.backend_pid)


def _measure(fn: Any, hub: Any) -> dict[str, float]:
    wall, cpu, server = time.perf_counter(), time.process_time(), _backend_cpu(hub)
    fn()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "server_cpu": _backend_cpu(hub) - server}


def peak_rss_mb() -> float:
    """Peak resident set of this process (VmHWM: unlike ru_maxrss it is not inherited from
    the parent that forked the process)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_generate(url: str, queue: Any, customers: int) -> None:
    """Generate the data (in a process of its own, so no phase inherits its memory)."""
    from scoring_data import generate

    queue.put(generate(url, customers))


def phase_stats(url: str, queue: Any) -> None:
    """Rebuild customer_stats from every order."""
    from crmhub.core.ingest.stats import rebuild_all_stats

    hub = _hub(url, SETTINGS)
    _track_backends(hub)
    result = _measure(lambda: rebuild_all_stats(hub.sessions, hub.now()), hub)
    result["rss_mb"] = peak_rss_mb()
    queue.put(result)


def phase_score(url: str, queue: Any, as_of: str, settings: dict[str, Any]) -> None:
    """One scoring run, as ``crmhub score --as-of`` does it."""
    from crmhub.plugins.scoring.run import parse_as_of, score_instance

    hub = _hub(url, settings)
    _track_backends(hub)
    out: dict[str, Any] = {}

    def run() -> None:
        out["summary"] = score_instance(hub, hub.instance("scoring.main"), parse_as_of(as_of, hub.now()))

    result: dict[str, Any] = _measure(run, hub)
    result.update(out, rss_mb=peak_rss_mb())
    queue.put(result)


def phase_lifetimes(url: str, queue: Any, as_of: str) -> None:
    """lifetimes on the summary the scorer reads."""
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from crmhub.plugins.scoring.data import load_inputs
    from crmhub.plugins.scoring.run import parse_as_of

    warnings.simplefilter("ignore")
    hub = _hub(url, SETTINGS)
    with hub.transaction() as session:
        inputs = load_inputs(session, parse_as_of(as_of, hub.now()))
    x, t_x, T = inputs.x, inputs.t_x_days / 7.0, inputs.age_days / 7.0
    repeat = (x > 0) & (inputs.repeat_mean > 0)
    out: dict[str, Any] = {}

    def fit() -> None:
        bg = BetaGeoFitter().fit(x, t_x, T)
        gg = GammaGammaFitter().fit(pd.Series(x[repeat]), pd.Series(inputs.repeat_mean[repeat]))
        out["bgnbd"] = {k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")}
        out["gamma_gamma"] = {"p": float(gg.params_["p"]), "q": float(gg.params_["q"]), "gamma": float(gg.params_["v"])}

    wall, cpu = time.perf_counter(), time.process_time()
    fit()
    out.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu, customers=int(np.size(x)),
               rss_mb=peak_rss_mb())
    queue.put(out)


def in_process(target: Any, *args: Any) -> dict[str, Any]:
    """Run ``target(*args, queue)`` in a fresh process and return what it reports."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(args[0], queue, *args[1:]))
    process.start()
    while True:
        try:
            return queue.get(timeout=5)
        except Exception:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit code {process.exitcode})") from None


def _row(name: str, m: dict[str, float], target: str = "", ratio: str = "") -> list[str]:
    server = f"{m['server_cpu']:.1f}" if "server_cpu" in m else ""
    memory = f"{m['rss_mb']:.0f}" if "rss_mb" in m else ""
    return [name, f"{m['wall']:.1f}", f"{m['cpu']:.1f}", server, memory, target, ratio]


def _stage(name: str, t: dict[str, float]) -> list[str]:
    return [f"  {name}", f"{t['wall']:.1f}", f"{t['cpu']:.1f}", "", "", "", ""]


def main() -> None:
    """Generate (unless --reuse), measure every phase, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--reuse", action="store_true", help="use the database of a previous run")
    parser.add_argument("--no-lifetimes", action="store_true")
    args = parser.parse_args()
    from scoring_data import END, create_database

    url = args.server.rsplit("/", 1)[0] + f"/{DATABASE}"
    if not args.reuse:
        url = create_database(args.server, DATABASE)
        facts = in_process(phase_generate, url, args.customers)
        print(f"generated {facts['customers']:,} customers, {facts['orders']:,} orders, "
              f"{facts['refunds']:,.0f} refunds, {facts['interactions']:,.0f} interactions "
              f"in {facts['seconds']:.0f} s (not part of any measurement)", flush=True)
    else:  # start from no scores, so that the first run is one
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            for table in ("score_history", "customer_score"):
                conn.execute(f"TRUNCATE {table}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    stats = in_process(phase_stats, url)
    first = in_process(phase_score, url, END, SETTINGS)  # everyone's first score: full history
    score = in_process(phase_score, url, END, SETTINGS)  # the steady state: history of changes
    history = in_process(phase_score, url, "2025-10-02", SETTINGS)
    again = in_process(phase_score, url, END, {**SETTINGS, "model": "mbgnbd", "compare_models": ["bgnbd", "pareto_nbd"]})
    summary = score["summary"]
    timings = summary["timings"]
    rows = [["step", "wall s", "CPU s", "server CPU s", "peak MiB", "target", "ratio"]]
    rows.append(_row("statistics refresh (rebuild-stats)", stats))
    rows.append(_row("scoring, first run (1M history rows)", first))
    rows.append(_row("scoring end to end (BG/NBD + GG)", score, "< 60 s", f"{score['wall'] / 60:.2f} of target"))
    for stage in ("load", "load activity", "collapse", "fit", "rfm", "score", "explain", "write"):
        rows.append(_stage(stage, timings[stage]))
    rows.append(_row("historical scoring (orders path)", history))
    rows.append(_row("scoring, defaults (MBG/NBD + BG/NBD + Pareto/NBD)", again))
    phases = [stats, first, score, history, again]
    if not args.no_lifetimes:
        ref = in_process(phase_lifetimes, url, END)
        ours = {k: timings["collapse"][k] + timings["fit"][k] for k in ("wall", "cpu")}
        worst = max(abs(summary["models"][m][k] / v - 1.0) for m in ref if m in summary["models"]
                    if isinstance(ref[m], dict) for k, v in ref[m].items())
        rows.append(["fit BG/NBD + GG, crmhub (collapse + fits)", f"{ours['wall']:.2f}", f"{ours['cpu']:.2f}",
                     "", "", "", ""])
        rows.append(["  of which the two fits", f"{timings['fit']['wall']:.2f}", f"{timings['fit']['cpu']:.2f}",
                     "", "", "", f"{ref['cpu'] / max(timings['fit']['cpu'], 1e-9):.0f}x (CPU)"])
        rows.append(["fit BG/NBD + GG, lifetimes (1M rows)", f"{ref['wall']:.1f}", f"{ref['cpu']:.1f}", "",
                     f"{ref['rss_mb']:.0f}", ">= 10x", f"{ref['cpu'] / max(ours['cpu'], 1e-9):.1f}x (CPU)"])
        rows.append(["largest relative parameter difference", f"{worst:.1e}", "", "", "", "<= 1e-3", ""])
    peak = max(p["rss_mb"] for p in phases)
    rows.append(["peak memory of a crmhub phase, MiB", f"{peak:.0f}", "", "", "", "< 2048", f"{peak / 2048:.2f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{summary['customers_scored']:,} customers scored; inputs from {summary['inputs_from']}; "
          f"historical run read {history['summary']['inputs_from']}; history rows: first run "
          f"{first['summary']['history_rows']:,}, second {summary['history_rows']:,}")
    print(f"BG/NBD {summary['models'].get('bgnbd')}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
