"""The ``sweep`` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sweep._version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sweep",
        description="Cost-per-token scenario sweeps: evaluate the token-economics model over a "
        "grid from a sweep file and store every output in a Zarr store.",
    )
    p.add_argument("--version", action="version", version=f"token-sweep {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the engine decides")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a sweep file into a Zarr store and print a summary")
    run.add_argument("file", help="sweep file (.yaml, .yml or .toml)")
    run.add_argument("--store", help="Zarr store to write (default: the file's 'store', "
                     "else results/<name>.zarr)")
    run.add_argument("--backend", choices=("auto", "numpy", "numba", "cuda", "cupy"),
                     help="compute backend (default: the file's 'backend', else auto)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing store")
    run.add_argument("--workers", type=_positive_int, default=None,
                     help="Dask threads (default: one per core)")
    bar = run.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show the progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="never show the progress bar (default: only on a terminal)")

    plan = sub.add_parser("plan", help="validate a sweep file and print its plan; computes nothing")
    plan.add_argument("file")
    plan.add_argument("--store", help="target store, for the disk-space check")

    show = sub.add_parser("show", help="describe a store: dims, outputs with units and "
                          "extremes, provenance")
    show.add_argument("store")

    sub.add_parser("presets", help="list the platform presets with their sources")
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from sweep import open_result, run
    from sweep.config import load_config
    from sweep.summary import describe

    spec = load_config(args.file)
    result = run(spec, store=args.store, backend=args.backend, overwrite=args.overwrite,
                 progress=args.progress, num_workers=args.workers)
    ds = open_result(result.store)
    print(describe(ds))
    print(f"wrote {result.store}")
    return EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    from sweep.backends import default_workers
    from sweep.config import load_config
    from sweep.planner import human_bytes, make_plan

    plan = make_plan(load_config(args.file), args.store)
    print(plan.describe())
    plan.check_disk()
    print("  disk      ok")
    workers = default_workers()
    plan.check_memory(workers)
    print(f"  memory    ok ({workers} task(s) of {human_bytes(plan.bytes_per_task())} at once)")
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from sweep import open_result
    from sweep.summary import describe

    print(describe(open_result(args.store)))
    return EXIT_OK


def _cmd_presets(args: argparse.Namespace) -> int:
    from sweep.presets import PRECISIONS, load_presets

    for label, p in load_presets().items():
        values = {k: p.peak_pflops[k].value for k in PRECISIONS}
        peaks = ", ".join(f"{k} {'-' if v is None else v}" for k, v in values.items())
        print(f"{label}: {p.gpu_hour_usd.value} USD/GPU/h ({p.gpu_hour_usd.date}), "
              f"{p.kw_per_gpu.value} kW all-in, TDP {p.tdp_kw.value} kW, "
              f"HBM {p.hbm_tb_s.value} TB/s, peak PFLOP/s dense {peaks}")
        print(f"    price source: {p.gpu_hour_usd.source}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweep`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from sweep.backends import BackendUnavailable
    from sweep.config import ConfigError
    from sweep.execute import ChunkError
    from sweep.planner import PlanError
    from sweep.store import StoreError

    commands = {"run": _cmd_run, "plan": _cmd_plan, "show": _cmd_show, "presets": _cmd_presets}
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        print(f"error: invalid sweep file ({len(exc.problems)} problem(s)):", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except (PlanError, BackendUnavailable, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ChunkError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
