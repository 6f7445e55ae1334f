"""Measured frontiers: one Pareto front of tokens/s per GPU against tokens/s per user per
model, precision, hardware, framework, speculative decoding, serving mode and sequence
lengths, kept in a folder of small JSON files (one per frontier, ``<key>.json``) with the
provenance of the points (source file name, its SHA-256, the rows' lines and dates).

A point is dropped when another of the same front has at least its throughput and at least
its interactivity, and more of one of them (it is dominated in both); of identical points
the first is kept. Points are stored by interactivity, ascending (throughput then strictly
descends).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sweep.frontiers.read import Measured, MeasuredRow

FORMAT = "token-sweep frontier 1"
#: Default folder of frontiers (relative to the working directory, or to a sweep file).
DEFAULT_DIR = "frontiers"
#: Per point, what is stored (the fields of :class:`~sweep.frontiers.read.MeasuredRow`;
#: units: tokens/s per GPU and per user, seconds).
POINT_FIELDS = ("intvty", "tput_per_gpu", "output_tput_per_gpu", "input_tput_per_gpu",
                "conc", "tp", "gpus", "prefill_gpus", "decode_gpus", "ttft", "tpot", "date",
                "line")
#: Units and meanings of the point fields (for :meth:`Frontier.dataset`).
POINT_ATTRS = {
    "intvty": ("tokens/s/user", "median interactivity, 1 / TPOT"),
    "tput_per_gpu": ("tokens/s", "total (input + output) tokens/s per GPU"),
    "output_tput_per_gpu": ("tokens/s", "output tokens/s per GPU"),
    "input_tput_per_gpu": ("tokens/s", "input tokens/s per GPU"),
    "conc": ("sequences", "client concurrency"),
    "tp": ("GPUs", "tensor parallelism"),
    "gpus": ("GPUs", "GPUs the throughput is divided by"),
    "prefill_gpus": ("GPUs", "prefill GPUs (disaggregated)"),
    "decode_gpus": ("GPUs", "decode GPUs (disaggregated)"),
    "ttft": ("s", "median time to first token"),
    "tpot": ("s", "median time per output token"),
    "line": ("1", "line of the source file"),
}
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

#: InferenceX's short model codes, for names that spell a model out.
_MODEL_CODES = (
    (re.compile(r"deepseekr1"), "dsr1"),
    (re.compile(r"deepseekv4"), "dsv4"),
    (re.compile(r"gptoss120b"), "gptoss120b"),
    (re.compile(r"gptoss20b"), "gptoss20b"),
    (re.compile(r"llama.*70b"), "llama70b"),
    (re.compile(r"minimaxm2\.?5"), "minimaxm2.5"),
    (re.compile(r"kimik2\.?5"), "kimik2.5"),
    (re.compile(r"qwen3\.?5"), "qwen3.5"),
    (re.compile(r"glm5"), "glm5"),
)


class FrontierError(ValueError):
    """A frontier that cannot be found, read or written."""


def slug(text: str) -> str:
    """Lower case, runs of other characters than ``a-z 0-9 .`` turned into ``-``."""
    return re.sub(r"[^a-z0-9.]+", "-", str(text).strip().lower()).strip("-.") or "x"


def model_code(name: str) -> str:
    """InferenceX's code of a model (``DeepSeek-R1-0528`` -> ``dsr1``), else its slug."""
    squashed = re.sub(r"[^a-z0-9.]", "", name.lower().rsplit("/", 1)[-1])
    for pattern, code in _MODEL_CODES:
        if pattern.search(squashed):
            return code
    return slug(name.rsplit("/", 1)[-1])


def _length(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def frontier_key(row: MeasuredRow) -> str:
    """The key of the frontier a row belongs to, e.g.
    ``dsr1-fp4-gb200-dynamo-trt-mtp-disagg-1k1k``."""
    parts = [model_code(row.model), slug(row.precision), slug(row.hardware),
             slug(row.framework)]
    if row.spec_decoding != "none":
        parts.append(slug(row.spec_decoding))
    if row.disagg:
        parts.append("disagg")
    parts.append(_length(row.isl) + _length(row.osl))
    return "-".join(parts)


@dataclass
class Frontier:
    """One measured front (see the module docstring); ``points`` is a list of dicts with
    :data:`POINT_FIELDS`, by interactivity ascending."""

    key: str
    model: str
    hardware: str
    framework: str
    precision: str
    isl: int
    osl: int
    spec_decoding: str
    disagg: bool
    points: list[dict]
    dropped: int = 0
    source: dict = field(default_factory=dict)
    basis: str = ("tput_per_gpu: total (input + output) tokens/s per GPU, InferenceX's "
                  "basis; output_tput_per_gpu: output tokens only")

    def column(self, name: str) -> np.ndarray:
        """A point field as float64 (NaN where a point has none)."""
        return np.array([np.nan if p.get(name) is None else float(p[name])
                         for p in self.points], dtype=np.float64)

    @property
    def interactivity_range(self) -> tuple[float, float]:
        """The lowest and highest measured tokens/s per user."""
        x = self.column("intvty")
        return float(x[0]), float(x[-1])

    def describe(self) -> str:
        """One line: key, number of points and interactivity range."""
        lo, hi = self.interactivity_range
        n = len(self.points)
        return (f"{self.key}: {n} point{'s' if n != 1 else ''}, "
                f"{lo:,.4g}-{hi:,.4g} tokens/s/user")

    def to_json(self) -> dict:
        """The frontier as written to ``<key>.json``."""
        return {"format": FORMAT, **asdict(self)}

    def dataset(self):
        """The frontier as an :class:`xarray.Dataset` over ``point`` (for charts and
        analysis), with units, and its metadata and provenance in attrs."""
        import xarray as xr

        def var(name):
            unit, long_name = POINT_ATTRS[name]
            return ("point", self.column(name), {"units": unit, "long_name": long_name})

        data = {name: var(name) for name in POINT_FIELDS if name not in ("date", "intvty")}
        data["date"] = ("point", np.array([p.get("date") or "" for p in self.points],
                                          dtype=object))
        attrs = {k: v for k, v in self.to_json().items() if k != "points"}
        attrs["source"] = json.dumps(attrs["source"], sort_keys=True)
        attrs["disagg"] = int(attrs["disagg"])
        return xr.Dataset(data, coords={"intvty": var("intvty")}, attrs=attrs)


def pareto(rows: list[MeasuredRow]) -> tuple[list[MeasuredRow], int]:
    """The rows no other row dominates (module docstring), by interactivity ascending,
    and how many were dropped."""
    order = sorted(range(len(rows)), key=lambda i: (-rows[i].intvty, -rows[i].tput_per_gpu, i))
    kept, best = [], -np.inf
    for i in order:
        if rows[i].tput_per_gpu > best:
            kept.append(rows[i])
            best = rows[i].tput_per_gpu
    kept.reverse()
    return kept, len(rows) - len(kept)


def build(measured: Measured) -> list[Frontier]:
    """The frontiers of a file's usable rows, by key."""
    groups: dict[str, list[MeasuredRow]] = {}
    for row in measured.rows:
        groups.setdefault(frontier_key(row), []).append(row)
    out = []
    for key, rows in sorted(groups.items()):
        kept, dropped = pareto(rows)
        first = rows[0]
        dates = sorted(r.date for r in rows if r.date)
        points = [{f: getattr(r, f) for f in POINT_FIELDS} for r in kept]
        out.append(Frontier(
            key=key, model=first.model, hardware=first.hardware, framework=first.framework,
            precision=first.precision, isl=first.isl, osl=first.osl,
            spec_decoding=first.spec_decoding, disagg=first.disagg,
            points=points, dropped=dropped,
            source={"file": measured.source, "sha256": measured.sha256,
                    "format": measured.format, "latency_unit": measured.latency_unit,
                    "rows": len(rows), "lines": [r.line for r in rows],
                    "dates": [dates[0], dates[-1]] if dates else []}))
    return out


# --------------------------------------------------------------------------- the folder


def _path(folder: Path, key: str) -> Path:
    return Path(folder) / f"{key}.json"


def write(frontiers: list[Frontier], folder: str | Path) -> list[tuple[Frontier, bool]]:
    """Write each frontier to ``folder/<key>.json`` (created if needed), each file atomically
    (a temporary file renamed over the old one): a reader sees the old frontier or the new
    one, never a part. Returns per frontier whether it replaced one."""
    folder = Path(folder)
    for f in frontiers:
        if not _KEY.match(f.key):
            raise FrontierError(f"frontier key {f.key!r}: expected lower-case letters, digits, "
                                "'.', '-' and '_'")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in frontiers:
        target = _path(folder, f.key)
        existed = target.exists()
        fd, tmp = tempfile.mkstemp(prefix=f".{f.key}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(f.to_json(), fh, indent=1, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        out.append((f, existed))
    return out


def _from_json(data: dict, where: str) -> Frontier:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FrontierError(f"{where}: not a token-sweep frontier (expected format "
                            f"{FORMAT!r}; import measured results with `sweep frontier "
                            "import FILE`)")
    try:
        fields = {k: data[k] for k in ("key", "model", "hardware", "framework", "precision",
                                       "isl", "osl", "spec_decoding", "disagg", "points")}
        f = Frontier(**fields, dropped=int(data.get("dropped", 0)),
                     source=dict(data.get("source", {})))
        x = f.column("intvty")
        y = f.column("tput_per_gpu")
    except (KeyError, TypeError, ValueError) as exc:
        raise FrontierError(f"{where}: a damaged frontier file ({exc!r})") from None
    if not f.points or not (np.all(x > 0) and np.all(y > 0) and np.all(np.diff(x) > 0)):
        raise FrontierError(f"{where}: a damaged frontier file (expected points with "
                            "increasing tokens/s/user and positive throughput)")
    return f


def load(folder: str | Path, key: str) -> Frontier:
    """The frontier ``key`` of ``folder``. Raises :class:`FrontierError` naming the keys
    there when it is missing."""
    path = _path(Path(folder), key)
    if not path.is_file():
        there = keys(folder)
        hint = ("one of " + ", ".join(there)) if there else (
            f"none in {Path(folder).name or folder}/: import measured results first with "
            "`sweep frontier import FILE`")
        raise FrontierError(f"frontier {key!r} not found ({hint})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FrontierError(f"{path.name}: cannot read ({exc})") from None
    return _from_json(data, path.name)


def keys(folder: str | Path) -> list[str]:
    """The frontier keys in ``folder`` (empty when it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _KEY.match(p.stem))


def load_all(folder: str | Path) -> list[Frontier]:
    """Every frontier in ``folder``, by key."""
    return [load(folder, k) for k in keys(folder)]


def import_measured(path: str | Path, folder: str | Path = DEFAULT_DIR,
                    name: str | None = None) -> tuple[list[tuple[Frontier, bool]], Measured]:
    """Read a measured-results file (:func:`sweep.frontiers.read.read_measured`), build its
    frontiers and write them into ``folder``; ``name`` renames the frontier of a file that
    gives exactly one. Nothing is written when the file has no usable row (raises
    :class:`~sweep.frontiers.read.MeasuredError` with every row's problem) or ``name`` does
    not apply. Returns the frontiers written (with whether each replaced one) and what the
    file gave (its row problems included, for the caller to report)."""
    from sweep.frontiers.read import MeasuredError, read_measured

    measured = read_measured(path)
    if not measured.rows:
        raise MeasuredError(measured.source, measured.problems
                            or ["no data rows (expected at least one measured point)"])
    frontiers = build(measured)
    if name is not None:
        if len(frontiers) != 1:
            raise FrontierError(f"--name {name!r}: the file gives {len(frontiers)} frontiers "
                                "(" + ", ".join(f.key for f in frontiers) + "); --name "
                                "renames a single one")
        if not _KEY.match(name):
            raise FrontierError(f"--name {name!r}: expected lower-case letters, digits, '.', "
                                "'-' and '_', starting with a letter or digit")
        frontiers[0].key = name
    return write(frontiers, folder), measured
