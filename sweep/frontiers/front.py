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
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sweep.frontiers.read import Measured, MeasuredRow
from sweep.textfile import write_text_atomic

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

#: InferenceX's short model codes, for the names of the models it benchmarks (matched
#: whole, without case and punctuation; any other name is kept as its slug, so that
#: distinct models never share a frontier).
_MODEL_CODES = (
    (re.compile(r"^deepseekr1(0528)?$"), "dsr1"),
    (re.compile(r"^gptoss120b$"), "gptoss120b"),
    (re.compile(r"^llama3\.370binstruct(fp8|fp4|nvfp4)?$|^llama3\.370b$"), "llama70b"),
    (re.compile(r"^minimaxm2\.5$"), "minimaxm2.5"),
    (re.compile(r"^kimik2\.5$"), "kimik2.5"),
    (re.compile(r"^glm5(fp8)?$"), "glm5"),
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


def _lengths(isl: int, osl: int) -> str:
    """``8k1k`` for lengths in whole multiples of 1024 (InferenceX's), else ``1000-200``."""
    if isl % 1024 == 0 and osl % 1024 == 0:
        return f"{isl // 1024}k{osl // 1024}k"
    return f"{isl}-{osl}"


def frontier_key(row: MeasuredRow) -> str:
    """The key of the frontier a row belongs to, e.g.
    ``dsr1-fp4-gb200-dynamo-trt-mtp-disagg-1k1k``."""
    parts = [model_code(row.model), slug(row.precision), slug(row.hardware),
             slug(row.framework)]
    if row.spec_decoding != "none":
        parts.append(slug(row.spec_decoding))
    if row.disagg:
        parts.append("disagg")
    parts.append(_lengths(row.isl, row.osl))
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
        if n == 1:
            return f"{self.key}: 1 point, at {_exact(lo)} tokens/s/user"
        return f"{self.key}: {n} points, {_exact(lo)}-{_exact(hi)} tokens/s/user"

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


def _exact(x: float) -> str:
    """``x`` with the digits a sweep file needs to hit it (the shortest that round-trips)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


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
    out = []
    for f in frontiers:
        target = _path(folder, f.key)
        existed = target.exists()
        write_text_atomic(target, json.dumps(f.to_json(), indent=1, sort_keys=True) + "\n")
        out.append((f, existed))
    return out


def _is_number(v, positive: bool = True) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and (v > 0 if positive else v >= 0))


def from_json(data: dict, where: str) -> Frontier:
    """A frontier from its JSON form (:meth:`Frontier.to_json`), checked; ``where`` names
    it in errors (:class:`FrontierError`)."""
    damaged = f"{where}: a damaged frontier file"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FrontierError(f"{where}: not a token-sweep frontier (expected format "
                            f"{FORMAT!r}; import measured results with `sweep frontier "
                            "import FILE`)")
    text = ("key", "model", "hardware", "framework", "precision", "spec_decoding")
    try:
        bad = [k for k in text if not isinstance(data[k], str)]
        bad += [k for k in ("isl", "osl") if not (_is_number(data[k]) and
                                                   float(data[k]).is_integer())]
        bad += [k for k in ("disagg",) if not isinstance(data[k], bool)]
        points = data["points"]
    except KeyError as exc:
        raise FrontierError(f"{damaged} (no {exc.args[0]!r})") from None
    if bad:
        raise FrontierError(f"{damaged} (bad {', '.join(bad)})")
    if not isinstance(points, list) or not points or not all(
            isinstance(p, dict) and _is_number(p.get("intvty"))
            and _is_number(p.get("tput_per_gpu"))
            and all(p.get(k) is None or _is_number(p[k], positive=False)
                    for k in POINT_FIELDS if k not in ("date", "intvty", "tput_per_gpu"))
            for p in points):
        raise FrontierError(f"{damaged} (expected points with a positive intvty and "
                            "tput_per_gpu, other fields numbers or null)")
    f = Frontier(**{k: data[k] for k in (*text[:5], "isl", "osl", "spec_decoding",
                                          "disagg")}, points=points,
                 dropped=int(data.get("dropped", 0)) if _is_number(data.get("dropped", 0),
                                                                  positive=False) else 0,
                 source=dict(data["source"]) if isinstance(data.get("source"), dict) else {})
    x, y = f.column("intvty"), f.column("tput_per_gpu")
    if not (np.all(np.diff(x) > 0) and np.all(np.diff(y) < 0)):
        raise FrontierError(f"{damaged} (expected a Pareto front: tokens/s per user rising "
                            "and tokens/s per GPU falling from point to point)")
    return f


def load(folder: str | Path, key: str) -> Frontier:
    """The frontier ``key`` of ``folder``. Raises :class:`FrontierError` naming the keys
    there when it is missing."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise FrontierError(f"frontier key {key!r}: expected lower-case letters, digits, '.', "
                            "'-' and '_' (a key `sweep frontier list` prints), not a path")
    path = _path(Path(folder), key)
    if not path.is_file():
        there = keys(folder)
        hint = (f"one of {', '.join(there)} in {folder}") if there else (
            f"none in {folder}: import measured results first with "
            "`sweep frontier import FILE`")
        raise FrontierError(f"frontier {key!r} not found ({hint})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FrontierError(f"{path.name}: cannot read ({exc})") from None
    return from_json(data, path.name)


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
