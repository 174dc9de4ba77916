"""The other engines of the analysis bench, run by app/benches/analysis.rs.

  compare.py time duckdb FILE   seconds for DuckDB's SUMMARIZE of the file (2 threads)
  compare.py time polars FILE   seconds for polars' read_csv, describe and n_unique
  compare.py check FILE         reference statistics from numpy, as JSON

Each `time` prints one line: the seconds the work took, measured here so that starting
Python and importing the library are not counted.
"""

import json
import sys
import time


def time_duckdb(path):
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    start = time.perf_counter()
    con.execute(f"SUMMARIZE SELECT * FROM read_csv('{path}')").fetchall()
    return time.perf_counter() - start


def time_polars(path):
    import polars as pl

    start = time.perf_counter()
    frame = pl.read_csv(path, try_parse_dates=True)
    frame.describe(percentiles=(0.05, 0.25, 0.5, 0.75, 0.95))
    frame.select(pl.all().n_unique())
    for name in ("label", "active"):
        frame[name].value_counts()
    return time.perf_counter() - start


def check(path):
    """What numpy says about the numeric columns, for the bench to compare with."""
    import numpy as np

    columns = {"id": [], "price": [], "quantity": []}
    active = []
    with open(path) as file:
        header = file.readline().strip().split(",")
        at = {name: header.index(name) for name in (*columns, "active")}
        for line in file:
            cells = line.rstrip("\n").split(",")
            for name, values in columns.items():
                cell = cells[at[name]]
                values.append(float(cell) if cell else np.nan)
            active.append(cells[at["active"]] == "true")
    arrays = {name: np.array(values) for name, values in columns.items()}
    active = np.array(active)
    stats = {}
    for name, values in arrays.items():
        present = values[~np.isnan(values)]
        stats[name] = {
            "mean": float(np.mean(present)),
            "std_dev": float(np.std(present, ddof=1)),
            "quantiles": [float(q) for q in np.quantile(present, [0.05, 0.25, 0.5, 0.75, 0.95])],
            "by_active": [float(np.nanmean(values[active == flag])) for flag in (False, True)],
        }
    names = list(arrays)
    pearson = []
    for a in names:
        row = []
        for b in names:
            both = ~np.isnan(arrays[a]) & ~np.isnan(arrays[b])
            row.append(float(np.corrcoef(arrays[a][both], arrays[b][both])[0, 1]))
        pearson.append(row)
    return {"columns": names, "stats": stats, "pearson": pearson}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "time":
        engine, path = sys.argv[2], sys.argv[3]
        seconds = {"duckdb": time_duckdb, "polars": time_polars}[engine](path)
        print(f"{seconds:.6f}")
    elif mode == "check":
        print(json.dumps(check(sys.argv[2])))
    else:
        sys.exit(f"unknown mode {mode}")
