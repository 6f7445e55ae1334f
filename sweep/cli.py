"""The ``sweep`` command line: a thin layer over the Python API.

Each command is a handler (``_cmd_run``, ``_cmd_plan``, ...) registered by :func:`_command`
beside the small function that adds its arguments (``_run_options``, ...); the options that
several commands share are added by one helper each (``_add_backend``, ``_add_workers``,
``_add_progress``, ...). :func:`_parser` builds the parser from that registry. Every library
beyond the standard one is imported where a command needs it (``sweep --help`` stays light).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from sweep._version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: ``--cluster local-cuda``: dask-cuda's LocalCUDACluster, one worker per visible GPU.
LOCAL_CUDA = "local-cuda"


# -- argument types ----------------------------------------------------------------------------

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "T": 1e12, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def _size(text: str) -> int:
    """``'500GB'``, ``'1.5TiB'``, ``'2e9'``: a byte count."""
    t = text.strip().upper().replace(" ", "")
    num = t.rstrip("KMGTIB")
    unit = t[len(num):]
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError):
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 500GB, 1.5TiB or 2e9 (bytes), got {text!r}")
    return int(value)


def _store(text: str):
    """A store argument: a local path or a store URL (``s3://bucket/prefix/name.zarr``)."""
    from sweep.storage.location import parse

    try:
        return parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cluster(text: str) -> int:
    if text == LOCAL_CUDA:
        return LOCAL_CUDA
    kind, _, n = text.partition(":")
    if kind != "local" or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"expected local:N (N worker processes) or "
                                         f"{LOCAL_CUDA} (one worker per GPU), got {text!r}")
    return int(n)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return names


def _sizes(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip()) or (float("nan"),)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated point counts such as 1e6,1e7, got {text!r}") from None


# -- options that several commands share -------------------------------------------------------

_BACKENDS = ("auto", "numpy", "numba", "cuda", "cupy")
_SWEEP_FILE = "sweep file (.yaml, .yml or .toml)"
_FILE_BACKEND = "the file's 'backend', else auto"
_FRONTIERS = "frontiers"
_FRONTIERS_HELP = f"folder of frontiers (default: {_FRONTIERS})"


def _add_store(p: argparse.ArgumentParser, what: str, *, default: bool = True) -> None:
    """``--store``: the Zarr store (a path or a URL) ``what`` says; with ``default``, the
    help ends with the file's fallback."""
    fallback = " (default: the file's 'store', else results/<name>.zarr)" if default else ""
    p.add_argument("--store", type=_store, help=what + fallback)


def _add_backend(p: argparse.ArgumentParser, default: str) -> None:
    """``--backend``: the compute backend, ``default`` when not given."""
    p.add_argument("--backend", choices=_BACKENDS, help=f"compute backend (default: {default})")


def _add_workers(p: argparse.ArgumentParser) -> None:
    """``--workers N``: Dask threads."""
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="Dask threads (default: one per core)")


def _add_overwrite(p, what: str) -> None:
    """``--overwrite`` (on a parser or a mutually exclusive group): replace ``what``."""
    p.add_argument("--overwrite", action="store_true", help=f"replace an existing {what}")


def _add_progress(p: argparse.ArgumentParser) -> None:
    """``--progress`` or ``--no-progress`` (one of them): the progress bar, by default only
    on a terminal."""
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show the progress bar")
    _add_no_progress(bar, default=True)


def _add_no_progress(p, *, default: bool | None = None) -> None:
    """``--no-progress`` (on a parser or in :func:`_add_progress`'s group)."""
    p.add_argument("--no-progress", dest="progress", action="store_false", default=default,
                   help="never show the progress bar (default: only on a terminal)")


def _add_where(p: argparse.ArgumentParser) -> None:
    """Where a run runs (one of them; default: local threads): ``--scheduler``,
    ``--scheduler-file`` or ``--cluster``."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a running dask.distributed scheduler (tcp://HOST:PORT, "
                       "tls://HOST:PORT with Dask's TLS settings)")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="run on the dask.distributed scheduler that FILE describes "
                       "(dask scheduler --scheduler-file FILE)")
    where.add_argument("--cluster", type=_cluster, metavar=f"local:N|{LOCAL_CUDA}",
                       help="start a local cluster for this run: N worker processes, or "
                       "one worker per visible GPU (dask-cuda; `auto` then runs chunks on "
                       "the cuda backend, runs of up to 10^6 points on NumPy)")


#: the destinations of :func:`_add_where`'s options (where a run runs)
_CLUSTER_FLAGS = ("scheduler", "scheduler_file", "cluster")


# -- the commands ------------------------------------------------------------------------------

_Options = Callable[[argparse.ArgumentParser], None]
_Handler = Callable[[argparse.Namespace], int]


class _Command(NamedTuple):
    add_options: _Options | None
    handler: _Handler
    summary: str
    description: str | None


#: every command by name, in the order ``sweep --help`` lists them: that of the handlers below
_COMMANDS: dict[str, _Command] = {}


def _command(name: str, add_options: _Options | None, summary: str,
             description: str | None = None) -> Callable[[_Handler], _Handler]:
    """Register the decorated handler as the command ``name``: ``add_options`` adds its
    arguments to its subparser, ``summary`` is its line in ``sweep --help`` and
    ``description`` (default: none) heads its own ``--help``."""

    def register(handler: _Handler) -> _Handler:
        _COMMANDS[name] = _Command(add_options, handler, summary, description)
        return handler

    return register


def _parser() -> argparse.ArgumentParser:
    """The parser of every registered command."""
    p = argparse.ArgumentParser(
        prog="sweep",
        description="Cost-per-token scenario sweeps: evaluate the token-economics model over a "
        "grid from a sweep file and store every output in a Zarr store.",
    )
    p.add_argument("--version", action="version", version=f"token-sweep {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the engine decides")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in _COMMANDS.items():
        cp = sub.add_parser(name, help=command.summary, description=command.description)
        if command.add_options is not None:
            command.add_options(cp)
    return p


# -- sweep run ---------------------------------------------------------------------------------

def _run_options(p: argparse.ArgumentParser) -> None:
    """``sweep run FILE``: the store, the backend, resuming, the limits, where to run."""
    p.add_argument("file", help=_SWEEP_FILE)
    _add_store(p, "Zarr store to write: a path or a URL such as s3://BUCKET/PREFIX/NAME.zarr")
    _add_backend(p, _FILE_BACKEND)
    mode = p.add_mutually_exclusive_group()
    _add_overwrite(mode, "store")
    mode.add_argument("--resume", action="store_true",
                      help="continue an interrupted run: compute only the chunks without a "
                      "completion marker (refused if the file's config differs from the store's)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and the pre-flight checks; write nothing")
    _add_workers(p)
    p.add_argument("--disk-budget", type=_size, default=None, metavar="SIZE",
                   help="refuse outputs larger than SIZE uncompressed (e.g. 500GB)")
    p.add_argument("--max-chunks", type=_positive_int, default=None, metavar="N",
                   help="refuse plans of more than N chunks (default 100000)")
    _add_where(p)
    _add_progress(p)


@_command("run", _run_options, "run a sweep file into a Zarr store and print a summary")
def _cmd_run(args: argparse.Namespace) -> int:
    from sweep.modes import for_spec
    from sweep.spec.config import load_config

    spec = load_config(args.file)
    return _run_mode(for_spec(spec), spec, args)


def _wants_cluster(args: argparse.Namespace) -> bool:
    """Whether ``--scheduler``, ``--scheduler-file`` or ``--cluster`` was given."""
    return any(getattr(args, flag, None) is not None for flag in _CLUSTER_FLAGS)


def _client(args: argparse.Namespace):
    """The ``dask.distributed`` client of ``--scheduler``, ``--scheduler-file`` or
    ``--cluster`` (:func:`sweep.executors.create_executor`), and what to close afterwards."""
    from sweep.executors import create_executor

    if args.scheduler or args.scheduler_file:
        executor = create_executor(args.scheduler, scheduler_file=args.scheduler_file)
    else:
        executor = create_executor(LOCAL_CUDA if args.cluster == LOCAL_CUDA
                                   else f"local:{args.cluster}")
    return executor.client, [executor]


def _options(args: argparse.Namespace):
    from sweep.modes import RunOptions

    charts = getattr(args, "charts", None)
    return RunOptions(store=getattr(args, "store", None), backend=getattr(args, "backend", None),
                      overwrite=getattr(args, "overwrite", False),
                      resume=getattr(args, "resume", False),
                      progress=getattr(args, "progress", None),
                      workers=getattr(args, "workers", None),
                      disk_budget=getattr(args, "disk_budget", None),
                      max_chunks=getattr(args, "max_chunks", None),
                      charts=Path(charts) if charts else None,
                      trajectories=getattr(args, "morris", None) or 20)


def _run_mode(mode, spec, args: argparse.Namespace) -> int:
    """``sweep run`` (and ``sweep sensitivity``) of ``spec`` in ``mode``: the plan, the
    pre-flight checks (all of them with ``--dry-run``), the run, the report."""
    from sweep.modes.base import cluster_flag_refusal, preflight

    given = [f"--{flag.replace('_', '-')}" for flag in ("resume", *_CLUSTER_FLAGS)
             if getattr(args, flag, None)]
    refusal = cluster_flag_refusal(mode, given[:1])
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    opts = _options(args)
    if opts.charts is not None:
        try:
            _writable_folder("--charts", opts.charts)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    plan = mode.plan(spec, opts)
    if getattr(args, "dry_run", False):
        return _preflight(mode, plan, opts, with_target=True)
    # every pre-flight check once, before a cluster is started; a cluster's memory check
    # once it is there (it reads each worker's memory limit)
    clustered = mode.cluster_flags and _wants_cluster(args)
    preflight(mode, plan, opts, skip=("memory",) if clustered else ())
    client, to_close = _client(args) if clustered else (None, [])
    opts.client = client
    try:
        if clustered:
            preflight(mode, plan, opts, only=("memory",))
        result = mode.run(plan, opts)
    finally:
        for thing in to_close:
            thing.close()
    print(mode.report(result, opts))
    return EXIT_OK


def _preflight(mode, plan, opts, with_target: bool) -> int:
    """``sweep plan`` and ``--dry-run``: the plan and every pre-flight check of its mode
    (the target and resume checks only with ``with_target``), one line each."""
    from sweep.planning import preflight
    from sweep.planning.preflight import PlanError
    from sweep.storage.layout import StoreError

    print(mode.describe(plan))
    checks = mode.checks(plan, opts)
    if not with_target:
        checks = [c for c in checks if c.name not in ("target", "resume")]
    failed = preflight.report(checks, (PlanError, StoreError), sys.stdout)
    if failed:
        print(f"{failed} check(s) refused; nothing was written", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


# -- sweep plan --------------------------------------------------------------------------------

def _plan_options(p: argparse.ArgumentParser) -> None:
    """``sweep plan FILE``: the target store, for the disk-space check."""
    p.add_argument("file")
    _add_store(p, "target store, for the disk-space check", default=False)


@_command("plan", _plan_options, "validate a sweep file and print its plan; computes nothing")
def _cmd_plan(args: argparse.Namespace) -> int:
    from sweep.modes import for_spec
    from sweep.spec.config import load_config

    spec = load_config(args.file)
    mode = for_spec(spec)
    opts = _options(args)
    return _preflight(mode, mode.plan(spec, opts), opts, with_target=False)


# -- sweep show --------------------------------------------------------------------------------

def _show_options(p: argparse.ArgumentParser) -> None:
    """``sweep show STORE``: a slice of it, as a table or a CSV file."""
    p.add_argument("store", type=_store)
    p.add_argument("--sel", action="append", metavar="DIM=VALUE[,VALUE]",
                   help="print only this slice, as a table of every point (repeatable; "
                   "labels or numbers)")
    p.add_argument("--output", metavar="NAME",
                   help="only this output (of a reduce result: its statistics, or one variable)")
    p.add_argument("--csv", metavar="FILE",
                   help="write the slice (every row) to FILE as CSV instead of printing it")


@_command("show", _show_options,
          "describe a store: dims, outputs with units and extremes, provenance")
def _cmd_show(args: argparse.Namespace) -> int:
    from sweep import open_result
    from sweep.report.summary import describe, describe_reduce

    ds = open_result(args.store)
    if args.sel or args.output or args.csv:
        return _show_slice(ds, args)
    mode = ds.attrs.get("sweep_mode")
    if mode == "sensitivity":
        from sweep.report.sensitivity_report import describe as describe_sensitivity

        print(describe_sensitivity(ds))
    elif mode == "morris":
        from sweep.engine.screening import describe as describe_morris

        print(describe_morris(ds))
    else:
        print(describe_reduce(ds) if mode == "reduce" else describe(ds))
    return EXIT_OK


def _show_slice(ds, args: argparse.Namespace) -> int:
    """``sweep show STORE --sel ... --output ... --csv ...``: a slice as a table or CSV."""
    from sweep.report import slices

    try:
        sub, rows = slices.take(ds, slices.parse_sel(args.sel), args.output)
        total = slices.n_rows(sub, rows)
        if not args.csv:   # the terminal shows the first rows: read no more than those
            sub = slices.head(sub, rows, slices.PRINT_ROWS)
        header, records = slices.records(sub, rows)
        if args.csv:
            slices.write_csv(Path(args.csv), header, records)
    except slices.SliceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.csv:
        print(f"wrote {len(records):,} row(s) of {len(header)} column(s) to {args.csv}")
    else:
        print("\n".join(slices.lines(header, records[: slices.PRINT_ROWS], len(rows),
                                      total=total)))
    return EXIT_OK


def _complete_result(path):
    """A stored result to draw: complete, or refused (:class:`StoreError`)."""
    from sweep import open_result
    from sweep.storage import store as zstore

    p = path
    if not zstore.is_store(p):
        raise zstore.StoreError(f"{p} is not a Zarr store (no zarr.json)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", zstore.IncompleteStoreWarning)
        ds = open_result(p)
    status = ds.attrs.get("sweep_status")
    if status != zstore.STATUS_COMPLETE:
        raise zstore.StoreError(f"{p} is marked {status!r}: the run that wrote it did not "
                                f"finish (resume or repair it first); nothing drawn")
    return ds


# -- sweep plot --------------------------------------------------------------------------------

def _plot_options(p: argparse.ArgumentParser) -> None:
    """``sweep plot STORE``: which charts, of what, where."""
    p.add_argument("store", type=_store)
    p.add_argument("--out", metavar="DIR",
                   help="folder for the charts (default: <store>-charts beside the store)")
    p.add_argument("--x", metavar="DIM", help="numeric dim on the x axis")
    p.add_argument("--y", metavar="DIM", help="numeric dim on the y axis")
    p.add_argument("--sel", action="append", metavar="DIM=VALUE[,VALUE]",
                   help="hold a dim at a value, or draw only some labels (repeatable)")
    p.add_argument("--output", metavar="NAME",
                   help="the output to draw (default: the file's first)")
    p.add_argument("--kind", metavar="KIND", help="only this chart: heatmap, lines, winner, "
                   "breakeven, breakdown, frontier, best, distribution, compare, "
                   "sensitivity, screening (default: every one the store can draw)")
    p.add_argument("--format", choices=("png", "svg"), default="png")


@_command("plot", _plot_options,
          "draw a store's charts (PNG or SVG, each with the CSV of the numbers it draws)")
def _cmd_plot(args: argparse.Namespace) -> int:
    from sweep.plots import defaults
    from sweep.plots.prepare import PlotError
    from sweep.report.slices import SliceError, parse_sel
    from sweep.storage.location import beside

    store = args.store
    if isinstance(store, Path) and (store / "bench.json").is_file():   # a `sweep bench` folder
        import json

        from sweep.benchmark.report import bench_chart

        chart = bench_chart(json.loads((store / "bench.json").read_text()))
        out = Path(args.out) if args.out else store
        print(defaults.describe([defaults.save(chart, out, args.format)]))
        return EXIT_OK
    ds = _complete_result(args.store)
    try:
        opts = defaults.Options(output=args.output, x=args.x, y=args.y,
                                sel=parse_sel(args.sel), kind=args.kind)
        charts = defaults.charts_for(ds, opts)
    except (PlotError, SliceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not charts:
        print(f"error: {store}: no chart to draw from this store (a reduce result needs a "
              "histogram or a compare: section; a grid an output over a numeric dim)",
              file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out) if args.out else beside(store) / f"{store.stem}-charts"
    paths = [defaults.save(c, out, args.format) for c in charts]
    print(defaults.describe(paths))
    return EXIT_OK


# -- sweep report ------------------------------------------------------------------------------

def _report_options(p: argparse.ArgumentParser) -> None:
    """``sweep report STORE... --out FILE.html``."""
    p.add_argument("stores", nargs="+", metavar="STORE", type=_store)
    p.add_argument("--out", metavar="FILE.html", required=True)


@_command("report", _report_options,
          "one self-contained HTML file of stores: question, summary, charts, provenance")
def _cmd_report(args: argparse.Namespace) -> int:
    from sweep.plots import defaults
    from sweep.plots.prepare import PlotError
    from sweep.report import html
    from sweep.textfile import write_text_atomic

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        print(f"error: --out {out}: expected a file name ending in .html", file=sys.stderr)
        return EXIT_USAGE
    if not out.parent.is_dir():
        print(f"error: --out {out}: the folder {out.parent} does not exist", file=sys.stderr)
        return EXIT_USAGE
    stores = []
    for path in args.stores:
        ds = _complete_result(path)
        try:
            stores.append((path, ds, defaults.charts_for(ds)))
        except PlotError as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    write_text_atomic(out, html.render(stores))
    print(f"wrote {out} ({sum(len(c) for _, _, c in stores)} chart(s) from "
          f"{len(stores)} store(s))")
    return EXIT_OK


# -- sweep verify, sweep repair ----------------------------------------------------------------

def _verify_options(p: argparse.ArgumentParser) -> None:
    """``sweep verify STORE``."""
    p.add_argument("store", type=_store)
    _add_no_progress(p)


@_command("verify", _verify_options,
          "check every chunk of a store against its completion marker; exit 1 naming each bad "
          "chunk")
def _cmd_verify(args: argparse.Namespace) -> int:
    from sweep.storage.verify import verify_store

    report = verify_store(args.store, progress=args.progress)
    print(report.describe())
    if report.findings:
        print(f"run `sweep repair {args.store}` to recompute the {len(report.flagged)} "
              "flagged chunk(s)", file=sys.stderr)
        return EXIT_FAILED
    if report.status != "complete":
        print(f"every chunk verifies, but the store is marked {report.status!r}: the run "
              "that wrote it did not finish", file=sys.stderr)
        return EXIT_FAILED
    print("ok: every chunk matches its marker")
    return EXIT_OK


def _repair_options(p: argparse.ArgumentParser) -> None:
    """``sweep repair STORE``: how to recompute the flagged chunks."""
    p.add_argument("store", type=_store)
    _add_backend(p, "the one that wrote the store")
    _add_workers(p)
    _add_no_progress(p)


@_command("repair", _repair_options,
          "recompute exactly the chunks `sweep verify` flags, then verify again")
def _cmd_repair(args: argparse.Namespace) -> int:
    from sweep.engine.repair import repair_store

    before, after = repair_store(args.store, backend=args.backend, progress=args.progress,
                                 num_workers=args.workers)
    print(before.describe())
    if before.ok and before.status == "complete":
        print("nothing to repair")
        return EXIT_OK
    print(f"recomputed {len(before.flagged)} chunk(s): {', '.join(before.flagged) or '-'}")
    print(after.describe())
    if after.findings or after.status != "complete":
        return EXIT_FAILED
    print("ok: every chunk matches its marker")
    return EXIT_OK


# -- sweep presets -----------------------------------------------------------------------------

@_command("presets", None, "list the platform, LLM and calibration presets with their sources")
def _cmd_presets(args: argparse.Namespace) -> int:
    from sweep.spec.presets import (
        PRECISIONS,
        load_calibrations,
        load_formats,
        load_models,
        load_presets,
    )

    print("platforms (a `presets:` axis, at a `precision:`), per GPU:")
    for label, p in load_presets().items():
        values = {k: p.peak_pflops[k].value for k in PRECISIONS}
        peaks = ", ".join(f"{k} {'-' if v is None else v}" for k, v in values.items())
        basis = f" {p.gpu_hour_usd.basis}" if p.gpu_hour_usd.basis else ""
        print(f"  {label}: {p.gpu_hour_usd.value} USD/GPU/h{basis} ({p.gpu_hour_usd.date}), "
              f"{p.kw_per_gpu.value} kW all-in, TDP {p.tdp_kw.value} kW, "
              f"HBM {p.hbm_gb.value} GB at {p.hbm_tb_s.value} TB/s, peak PFLOP/s dense {peaks}")
        print(f"      price source: {p.gpu_hour_usd.source}")
        if p.conflicts():
            print(f"      sources disagree on {', '.join(p.conflicts())} (each figure and "
                  "source in sweep/data/presets.yaml)")
    formats = load_formats()
    weights = ", ".join(f"{k} {v:g}" for k, v in formats["weights"].items())
    kv = ", ".join(f"{k} {v:g}" for k, v in formats["kv"].items())
    print(f"LLMs (a `models:` axis, at `weights:` ({weights} B/param) and `kv:` ({kv} "
          "B/element)):")
    for label, m in load_models().items():
        print(f"  {label}: {m.params_shared_b:g}B shared + {m.params_experts_b:g}B in "
              f"{m.experts} routed experts, top-{m.experts_per_token}; KV "
              f"{m.kv_elements_per_token:,.0f} elements/token; attention "
              f"{m.attn_flops_per_context_token:,.0f} FLOP per context token; "
              f"weights {m.weights} unless given")
        print(f"      source: {m.source} ({m.date})")
    print("calibrations (a `calibrations:` axis; `{calibration: NAME}` as a distribution "
          "draws from [low, high]):")
    for label, c in load_calibrations().items():
        factors = ", ".join(f"{k} {f.value:g} [{f.low:g}, {f.high:g}]"
                            for k, f in c.factors.items())
        print(f"  {label}: {factors}")
        print(f"      {c.description}; source: {c.source}")
    return EXIT_OK


# -- sweep frontier ----------------------------------------------------------------------------

def _frontier_options(p: argparse.ArgumentParser) -> None:
    """``sweep frontier import|list``."""
    actions = p.add_subparsers(dest="frontier_command", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="read an InferenceX CSV export or agg_bmk.json "
                             "into one Pareto front per configuration")
    imp.add_argument("file", nargs="?", help="a .csv (the InferenceX dashboard's export) "
                     "or .json (the harness's agg_bmk.json) file")
    imp.add_argument("--shipped", action="store_true",
                     help="import the measured points shipped with token-sweep "
                     "(sweep/data/inferencex-measured.csv) instead of FILE")
    imp.add_argument("--out", default=_FRONTIERS, metavar="DIR", help=_FRONTIERS_HELP)
    imp.add_argument("--name", help="key of the frontier, for a file that gives one")
    listing = actions.add_parser("list", help="list the frontiers of a folder")
    listing.add_argument("dir", nargs="?", default=_FRONTIERS, help=_FRONTIERS_HELP)


@_command("frontier", _frontier_options,
          "measured throughput frontiers: import benchmark results, list what is there")
def _cmd_frontier(args: argparse.Namespace) -> int:
    from sweep.frontiers import front

    if args.frontier_command == "list":
        found = front.keys(args.dir)
        if not found:
            print(f"no frontiers in {args.dir}/ (import measured results with `sweep frontier "
                  "import FILE`)")
        damaged = 0
        for key in found:
            try:
                print(front.load(args.dir, key).describe())
            except front.FrontierError as exc:
                print(f"error: {exc}", file=sys.stderr)
                damaged += 1
        return EXIT_FAILED if damaged else EXIT_OK
    try:
        _writable_folder("--out", Path(args.out))
    except ValueError as exc:
        raise front.FrontierError(str(exc)) from None
    if bool(args.file) == bool(args.shipped):
        print("error: give FILE or --shipped (one of them)", file=sys.stderr)
        return EXIT_USAGE
    if args.shipped:
        from importlib import resources

        with resources.as_file(resources.files("sweep.data").joinpath(
                "inferencex-measured.csv")) as path:
            written, measured = front.import_measured(path, args.out, args.name)
    else:
        written, measured = front.import_measured(args.file, args.out, args.name)
    for problem in measured.problems:
        print(f"warning: {measured.source}: {problem} (row skipped)", file=sys.stderr)
    dropped = sum(f.dropped for f, _ in written)
    print(f"{measured.source}: {len(measured.rows)} usable row(s) of "
          f"{len(measured.rows) + len(measured.problems)}, latencies in "
          f"{measured.latency_unit}; {dropped} dominated point(s) dropped")
    for f, replaced in written:
        print(f.describe() + ("  (replaced)" if replaced else ""))
    print(f"wrote {len(written)} frontier(s) into {args.out}/")
    return EXIT_OK


# -- sweep calibrate ---------------------------------------------------------------------------

def _calibrate_options(p: argparse.ArgumentParser) -> None:
    """``sweep calibrate FRONTIER --model --hardware``: the fit's inputs and its output."""
    p.add_argument("frontier", help="the frontier's key (see `sweep frontier list`)")
    p.add_argument("--model", required=True, help="LLM preset (see `sweep presets`)")
    p.add_argument("--hardware", required=True, help="platform preset (see `sweep presets`)")
    p.add_argument("--weights", choices=("bf16", "fp8", "nvfp4", "mxfp4"),
                   help="weight format (default: the LLM preset's)")
    p.add_argument("--kv", choices=("bf16", "fp8"), default="fp8",
                   help="KV-cache dtype (default: fp8)")
    p.add_argument("--gpus-per-replica", type=_positive_int, metavar="N",
                   help="GPUs per replica (default: each point's TP)")
    p.add_argument("--fit-prefill", action="store_true", help="fit mfu_prefill too")
    p.add_argument("--mfu-prefill", type=float, default=1.0,
                   help="mfu_prefill when not fitted (default: 1)")
    p.add_argument("--length-factor", type=float, default=0.9,
                   help="mean lengths / nominal ISL and OSL (default: 0.9, InferenceX "
                   "draws lengths uniformly in [0.8 L, L])")
    p.add_argument("--tokens-per-step", type=float, default=1.0,
                   help="tokens accepted per step (speculative decoding; default: 1)")
    p.add_argument("--frontiers", default=_FRONTIERS, metavar="DIR",
                   help="folder of frontiers; the calibration goes to DIR/calibrations/ "
                   f"(default: {_FRONTIERS})")
    p.add_argument("--name", help="name of the calibration preset (default: fit-<frontier>)")


@_command("calibrate", _calibrate_options,
          "fit the roofline's mbu and step_overhead_ms (and mfu_prefill) to a measured frontier; "
          "write a calibration")
def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sweep.frontiers import calibrate, front

    f = front.load(args.frontiers, args.frontier)
    name = args.name or f"fit-{args.frontier}"
    calibrate.check_name(name)
    try:
        _writable_folder("--frontiers", Path(args.frontiers))
    except ValueError as exc:
        raise front.FrontierError(str(exc)) from None
    result = calibrate.fit(f, args.model, args.hardware, weights=args.weights, kv=args.kv,
                           replica_gpus=args.gpus_per_replica,
                           fit_prefill=args.fit_prefill, prefill_mfu=args.mfu_prefill,
                           length_factor=args.length_factor,
                           step_tokens=args.tokens_per_step)
    print("\n".join(calibrate.report(result)))
    path = calibrate.write_preset(result, name, args.frontiers)
    print(f"wrote calibration {name!r} to {path} (use it with `frontiers: {args.frontiers}` "
          f"and a `calibrations: [{name}]` axis, or `{{calibration: {name}}}`)")
    return EXIT_OK


def _writable_folder(option: str, path: Path) -> None:
    """Refuse, before any work, a folder option naming a file (or under one)."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"{option}: {path} is under the file {p}; expected a folder")
            break


# -- sweep sensitivity -------------------------------------------------------------------------

#: its line in ``sweep --help``, and the description that heads its own ``--help``
_SENSITIVITY = (
    "Sobol' indices, tornado swings and elasticities of a sample-mode file: a ranked table, "
    "a Dataset and PNG charts",
    "Evaluate a sample-mode sweep file (distributions + sample: {method: saltelli}) chunk by "
    "chunk without storing the samples, and report first- and total-order Sobol' indices "
    "with 95 % intervals, one-at-a-time swings (P5 to P95) and elasticities at the base case "
    "(medians), per label of any categorical axis.",
)


def _sensitivity_options(p: argparse.ArgumentParser) -> None:
    """``sweep sensitivity FILE``: the store, the backend, the charts, Morris screening."""
    p.add_argument("file", help=f"{_SWEEP_FILE} with a sample section")
    _add_store(p, "Zarr store for the result")
    _add_overwrite(p, "result")
    _add_backend(p, _FILE_BACKEND)
    _add_workers(p)
    p.add_argument("--charts", metavar="DIR",
                   help="folder for the PNG charts (default: next to the store)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and check the target; compute nothing")
    p.add_argument("--morris", type=_positive_int, metavar="R", default=None,
                   help="Morris screening instead (SALib): R trajectories of D + 1 "
                   "points each, elementary effects ranked by mu*; any sample method")
    _add_progress(p)


@_command("sensitivity", _sensitivity_options, *_SENSITIVITY)
def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from sweep.modes import get
    from sweep.spec.config import load_config

    spec = load_config(args.file)
    return _run_mode(get("screening" if args.morris else "sensitivity"), spec, args)


# -- sweep bench -------------------------------------------------------------------------------

#: its line in ``sweep --help``, and the description that heads its own ``--help``
_BENCH = (
    "benchmark every available backend on this machine against the hardware ceilings: "
    "JSON, markdown and a PNG chart",
    "Time every available backend (numpy, numba, cuda, cupy) in each mode (kernel: compute "
    "into memory; materialize: sweep run into Zarr; reduce: statistics only) at each grid "
    "size, with the ceilings that bound them measured in the same run (host memory write "
    "fill, Zarr encode-and-write, on a GPU device copies), and how time scales with chunk "
    "size and workers. Writes bench.json, bench.md and bench.png.",
)


def _bench_options(p: argparse.ArgumentParser) -> None:
    """``sweep bench``: which backends, sizes and modes, how often, where the report goes."""
    p.add_argument("--backends", type=_names, default=None, metavar="LIST",
                   help="comma-separated (default: numpy,numba,cuda,cupy; unavailable "
                   "ones are listed with the reason)")
    p.add_argument("--sizes", type=_sizes, default=None, metavar="LIST",
                   help="grid points per size, comma-separated (default: 1e6,1e7,1e8)")
    p.add_argument("--modes", type=_names, default=None, metavar="LIST",
                   help="comma-separated: kernel, materialize, reduce (default: all)")
    p.add_argument("--repeat", type=_positive_int, default=3,
                   help="timed runs per row after one warm-up; the median is reported")
    _add_workers(p)
    p.add_argument("--grid", default="cost", choices=("cost", "throughput"),
                   help="cost: the cost model over given throughput (default); "
                   "throughput: the roofline over concurrency (derived tokens/s; reduce "
                   "rows add best:)")
    p.add_argument("--no-scaling", dest="scaling", action="store_false",
                   help="skip the chunk-size and workers study")
    p.add_argument("--out", default="bench-report",
                   help="folder for the report (default: bench-report)")
    _add_no_progress(p)


@_command("bench", _bench_options, *_BENCH)
def _cmd_bench(args: argparse.Namespace) -> int:
    import shlex

    from sweep.benchmark import report as bench_report
    from sweep.benchmark.runner import BACKENDS, DEFAULT_SIZES, MODES, BenchOptions, run_bench

    opts = BenchOptions(backends=args.backends or BACKENDS, sizes=args.sizes or DEFAULT_SIZES,
                        modes=args.modes or MODES, repeat=args.repeat, workers=args.workers,
                        scaling=args.scaling, explicit_backends=args.backends is not None,
                        command=shlex.join(["sweep", *sys.argv[1:]]), grid=args.grid)
    try:
        opts.check()
        _writable_folder("--out", Path(args.out))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log = logging.getLogger("sweep.bench").info
    report = run_bench(opts, progress=args.progress, log=log)
    paths = bench_report.write(report, Path(args.out))
    print(bench_report.markdown(report, chart_name=None))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweep`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command].handler(args)
    except Exception as exc:
        if isinstance(exc, _loaded(_CONFIG_ERROR)):
            print(f"error: invalid sweep file ({len(exc.problems)} problem(s)):",
                  file=sys.stderr)
            print(str(exc), file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, _loaded(_USAGE_ERRORS)):
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        from sweep.storage import objects  # light: no object-store library

        if objects.is_library_error(exc):   # an object store's error, not a StoreError
            print(f"error: {objects.reason(exc)}", file=sys.stderr)
            return EXIT_FAILED
        if isinstance(exc, (OSError, *_loaded(_FAILURES))):
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise


#: The errors that are one line and exit 2 (a bad file, a refused plan, an unavailable
#: backend, a store that cannot be used, a bad measured file or calibration), by module:
#: an error of a module that was never imported cannot have been raised, so none is
#: imported here (``sweep --help`` stays light).
_CONFIG_ERROR = (("sweep.spec.config", "ConfigError"),)
_USAGE_ERRORS = (("sweep.planning.preflight", "PlanError"),
                 ("sweep.backends", "BackendUnavailable"),
                 ("sweep.storage.errors", "StoreError"),
                 ("sweep.frontiers.read", "MeasuredError"),
                 ("sweep.frontiers.front", "FrontierError"),
                 ("sweep.frontiers.calibrate", "CalibrationError"))
#: Failures while running: exit 1.
_FAILURES = (("sweep.engine.execute", "ChunkError"),)


def _loaded(classes: tuple[tuple[str, str], ...]) -> tuple[type, ...]:
    """The classes of ``(module, name)`` whose module has been imported."""
    return tuple(getattr(sys.modules[m], n) for m, n in classes if m in sys.modules)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
