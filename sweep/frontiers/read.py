"""Reading measured serving benchmarks: the InferenceX dashboard's CSV export and the
InferenceX harness's ``agg_bmk.json`` rows, into :class:`MeasuredRow` s.

Both formats are data: parsed with :mod:`csv` and :mod:`json`, never evaluated. Every row
that cannot be used is reported with its line number and the field at fault; the rows that
can be used are returned beside those problems (the caller refuses a file with none).

Units, as read (the token basis is InferenceX's: ``Throughput/GPU`` and ``tput_per_gpu`` are
total, input + output, tokens per second per GPU):

* throughput in tokens/s per GPU, interactivity in tokens/s per user;
* TTFT and TPOT in seconds. The CSV headers say ``(ms)``, but exports have been seen to hold
  seconds under them; the unit is therefore read from the data: where a row gives both the
  median TPOT and the median interactivity, their product is ~1 for seconds and ~1000 for
  milliseconds (interactivity is 1/TPOT), and one file holds one unit. Without
  interactivity, a file whose TPOT values are all below 1 is taken as seconds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

#: Columns of the CSV export, by canonical name: the header as the dashboard writes it
#: (matched case-, space- and unit-insensitively: ``"Throughput/GPU (tok/s)"`` and
#: ``"throughput/gpu"`` are the same column).
CSV_COLUMNS = {
    "model": "Model", "isl": "ISL", "osl": "OSL", "hardware": "Hardware",
    "framework": "Framework", "precision": "Precision", "tp": "TP",
    "conc": "Concurrency", "date": "Date",
    "tput": "Throughput/GPU (tok/s)", "output_tput": "Output Throughput/GPU (tok/s)",
    "input_tput": "Input Throughput/GPU (tok/s)", "ttft": "Median TTFT (ms)",
    "tpot": "Median TPOT (ms)", "intvty": "Median Interactivity (tok/s/user)",
    "disagg": "Disaggregated", "prefill_gpus": "Num Prefill GPUs",
    "decode_gpus": "Num Decode GPUs", "spec": "Spec Decoding",
}
#: Columns a CSV must have (besides one of ``intvty`` and ``tpot``).
CSV_REQUIRED = ("model", "isl", "osl", "hardware", "framework", "precision", "conc",
                "tput")
#: The ``agg_bmk.json`` keys of each canonical field (first present wins).
JSON_KEYS = {
    "model": ("infmax_model_prefix", "model"), "isl": ("isl",), "osl": ("osl",),
    "hardware": ("hw",), "framework": ("framework",), "precision": ("precision",),
    "tp": ("tp",), "pp": ("pp",), "conc": ("conc",), "date": ("date",),
    "tput": ("tput_per_gpu",), "output_tput": ("output_tput_per_gpu",),
    "input_tput": ("input_tput_per_gpu",), "ttft": ("median_ttft",),
    "tpot": ("median_tpot",), "intvty": ("median_intvty",), "disagg": ("disagg",),
    "prefill_gpus": ("num_prefill_gpu",), "decode_gpus": ("num_decode_gpu",),
    "spec": ("spec_decoding", "mtp"),
}
JSON_REQUIRED = CSV_REQUIRED


class MeasuredError(ValueError):
    """A measured-results file that cannot be imported; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"]
                                 if len(problems) > 20 else [])
        super().__init__(f"{source}: " + "\n  ".join(["cannot import:", *shown]))


@dataclass(frozen=True)
class MeasuredRow:
    """One measured point, in InferenceX's vocabulary (units in the module docstring):
    ``conc`` client concurrency, ``tput_per_gpu`` total tokens/s per GPU,
    ``output_tput_per_gpu`` and ``input_tput_per_gpu`` their output and input parts,
    ``intvty`` tokens/s per user, ``ttft`` and ``tpot`` in seconds, ``gpus`` the GPUs the
    throughput is divided by (TP x PP, or prefill + decode GPUs when disaggregated)."""

    line: int
    model: str
    isl: int
    osl: int
    hardware: str
    framework: str
    precision: str
    conc: int
    tput_per_gpu: float
    intvty: float
    output_tput_per_gpu: float | None = None
    input_tput_per_gpu: float | None = None
    ttft: float | None = None
    tpot: float | None = None
    tp: int | None = None
    gpus: int | None = None
    prefill_gpus: int | None = None
    decode_gpus: int | None = None
    disagg: bool = False
    spec_decoding: str = "none"
    date: str = ""


@dataclass
class Measured:
    """What a file gave: its usable rows, the problems of the others, and provenance."""

    rows: list[MeasuredRow]
    problems: list[str]
    source: str
    sha256: str
    format: str
    latency_unit: str = "s"
    notes: list[str] = field(default_factory=list)


def _canon(header: str) -> str:
    """A header without case, spaces, underscores and a trailing ``(unit)``."""
    text = re.sub(r"\([^)]*\)\s*$", "", str(header).strip())
    return re.sub(r"[\s_]+", "", text).lower()


_CANON = {_canon(v): k for k, v in CSV_COLUMNS.items()}


class _RowError(ValueError):
    pass


#: A number written with thousands separators (``10,134.1``); a lone comma is no decimal
#: point here: ``1,3`` is refused, not read as 13 or 1.3.
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def _number(raw, name: str, *, positive: bool = True, integer: bool = False,
            required: bool = True) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise _RowError(f"{name}: empty (expected "
                            f"{'a whole number' if integer else 'a number'} > 0)")
        return None
    if isinstance(raw, bool):
        raise _RowError(f"{name}: {raw!r} (expected a number)")
    text = raw.strip() if isinstance(raw, str) else None
    if text is not None and _THOUSANDS.match(text):
        text = text.replace(",", "")         # 10,134.1: a thousands separator
    try:
        value = float(text) if text is not None else float(raw)
    except (TypeError, ValueError):
        raise _RowError(f"{name}: {raw!r} (expected a number)") from None
    if not math.isfinite(value) or (positive and not value > 0) or (value < 0):
        raise _RowError(f"{name}: {raw!r} (expected a finite number "
                        f"{'> 0' if positive else '>= 0'})")
    if integer and value != math.floor(value):
        raise _RowError(f"{name}: {raw!r} (expected a whole number)")
    return value


def _flag(raw, name: str) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in ("", "false", "no", "0", "n", "none"):
        return False
    if text in ("true", "yes", "1", "y"):
        return True
    raise _RowError(f"{name}: {raw!r} (expected true or false)")


def _text(raw, name: str, required: bool = True) -> str:
    if raw is not None and not isinstance(raw, (str, int, float)):
        raise _RowError(f"{name}: {raw!r} (expected text)")
    text = "" if raw is None else str(raw).strip()
    if required and not text:
        raise _RowError(f"{name}: empty (expected text)")
    return text


def _spec(raw) -> str:
    text = "" if raw is None or raw is False else str(raw).strip().lower()
    if raw is True:
        return "mtp"
    return "none" if text in ("", "none", "false", "no", "0", "off") else text


def _latency_scale(pairs: list[tuple[float, float]], tpots: list[float]) -> tuple[float, str]:
    """Seconds per unit of the file's latency columns (1 or 1e-3) and the unit's name."""
    ratios = sorted(t * i for t, i in pairs)
    if ratios:
        mid = ratios[len(ratios) // 2]
        return (1.0, "s") if mid < 31.6 else (1e-3, "ms")
    if tpots and sorted(tpots)[len(tpots) // 2] < 1.0:   # a median TPOT of a second or
        return 1.0, "s"                                 # more is milliseconds
    return 1e-3, "ms"


def _row(line: int, get, names: dict[str, str], scale: float) -> MeasuredRow:
    """One row from ``get(field)`` (raw values); ``names``: the field names to report."""
    n = names.__getitem__
    tpot = _number(get("tpot"), n("tpot"), required=False)
    intvty = _number(get("intvty"), n("intvty"), required=False)
    tpot_s = tpot * scale if tpot is not None else None
    if intvty is None:
        if tpot_s is None:
            raise _RowError(f"{n('intvty')} and {n('tpot')}: both empty (expected one)")
        intvty = 1.0 / tpot_s
    ttft = _number(get("ttft"), n("ttft"), required=False)
    tp = _number(get("tp"), n("tp"), integer=True, required=False)
    pp = _number(get("pp"), n("pp"), integer=True, required=False) if "pp" in names else None
    pre = _number(get("prefill_gpus"), n("prefill_gpus"), positive=False, integer=True,
                  required=False)
    dec = _number(get("decode_gpus"), n("decode_gpus"), positive=False, integer=True,
                  required=False)
    disagg = _flag(get("disagg"), n("disagg"))
    if disagg and pre and dec:
        gpus = int(pre + dec)
    elif tp is not None:
        gpus = int(tp * (pp or 1))
    else:
        gpus = None
    return MeasuredRow(
        line=line,
        model=_text(get("model"), n("model")),
        isl=int(_number(get("isl"), n("isl"), integer=True)),
        osl=int(_number(get("osl"), n("osl"), integer=True)),
        hardware=_text(get("hardware"), n("hardware")),
        framework=_text(get("framework"), n("framework")),
        precision=_text(get("precision"), n("precision")),
        conc=int(_number(get("conc"), n("conc"), integer=True)),
        tput_per_gpu=_number(get("tput"), n("tput")),
        intvty=intvty,
        output_tput_per_gpu=_number(get("output_tput"), n("output_tput"), required=False),
        input_tput_per_gpu=_number(get("input_tput"), n("input_tput"), positive=False,
                                   required=False),
        ttft=ttft * scale if ttft is not None else None,
        tpot=tpot_s,
        tp=int(tp) if tp is not None else None,
        gpus=gpus,
        prefill_gpus=int(pre) if pre is not None else None,
        decode_gpus=int(dec) if dec is not None else None,
        disagg=disagg,
        spec_decoding=_spec(get("spec")),
        date=_text(get("date"), "date", required=False),
    )


def _latency_pairs(records, get_tpot, get_intvty) -> tuple[list, list]:
    pairs, tpots = [], []
    for rec in records:
        try:
            t = _number(get_tpot(rec), "tpot", required=False)
            i = _number(get_intvty(rec), "intvty", required=False)
        except _RowError:
            continue
        if t is not None:
            tpots.append(t)
            if i is not None:
                pairs.append((t, i))
    return pairs, tpots


def read_csv(text: str, source: str) -> Measured:
    """Rows of an InferenceX dashboard CSV export (see :data:`CSV_COLUMNS`)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise MeasuredError(source, ["line 1: empty file (expected a CSV header)"]) from None
    except csv.Error as exc:
        raise MeasuredError(source, [f"line 1: {exc}"]) from None
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        key = _CANON.get(_canon(h))
        if key is not None and key not in index:
            index[key] = i
    missing = [CSV_COLUMNS[k] for k in CSV_REQUIRED if k not in index]
    if "intvty" not in index and "tpot" not in index:
        missing.append(f"{CSV_COLUMNS['intvty']} or {CSV_COLUMNS['tpot']}")
    if missing:
        raise MeasuredError(source, ["line 1: missing column(s) " + ", ".join(missing)
                                     + " (header names are matched ignoring case, spaces "
                                     "and units)"])
    names = {k: header[i].strip() for k, i in index.items()}
    names.update({k: v for k, v in CSV_COLUMNS.items() if k not in names})
    records: list[tuple[int, list[str]]] = []
    problems: list[str] = []
    start = 2
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                records.append((start, cells))      # the line the record starts on
            start = reader.line_num + 1
    except csv.Error as exc:   # the rest of the file cannot be read: refuse it whole
        raise MeasuredError(source, [f"line {reader.line_num}: not CSV ({exc}); nothing "
                                     "was imported"]) from None

    def cell(cells, key):
        i = index.get(key)
        return cells[i] if i is not None and i < len(cells) else None

    pairs, tpots = _latency_pairs([c for _, c in records], lambda c: cell(c, "tpot"),
                                  lambda c: cell(c, "intvty"))
    scale, unit = _latency_scale(pairs, tpots)
    rows = []
    for line, cells in records:
        if len(cells) > len(header):
            problems.append(f"line {line}: {len(cells)} fields (the header has "
                            f"{len(header)})")
            continue
        try:
            rows.append(_row(line, lambda k, c=cells: cell(c, k), names, scale))
        except _RowError as exc:
            problems.append(f"line {line}: {exc}")
    return Measured(rows, problems, source, "", "inferencex-csv", unit)


def _json_records(text: str, source: str) -> list[tuple[int, object]]:
    """The elements of a JSON array (or one object) with the line each starts on."""
    decoder = json.JSONDecoder()
    i = len(text) - len(text.lstrip())
    if text[i:i + 1] != "[":
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise MeasuredError(source, [f"line {exc.lineno}: invalid JSON ({exc.msg})"]) \
                from None
        if text[end:].strip():
            line = text.count("\n", 0, end) + 1
            raise MeasuredError(source, [f"line {line}: invalid JSON (text after the "
                                         "object)"])
        return [(text.count("\n", 0, i) + 1, obj)]
    out = []
    i += 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            raise MeasuredError(source, [f"line {text.count(chr(10)) + 1}: invalid JSON "
                                         "(the array is not closed)"])
        if text[i] == "]":
            if text[i + 1:].strip():
                line = text.count("\n", 0, i) + 1
                raise MeasuredError(source, [f"line {line}: invalid JSON (text after the "
                                             "array)"])
            return out
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise MeasuredError(source, [f"line {exc.lineno}: invalid JSON ({exc.msg})"]) \
                from None
        out.append((text.count("\n", 0, i) + 1, obj))
        i = end


def read_agg_json(text: str, source: str) -> Measured:
    """Rows of the InferenceX harness's ``agg_bmk.json`` (see :data:`JSON_KEYS`); latencies
    there are in seconds (the harness converts every ``*_ms`` key)."""
    problems: list[str] = []
    rows = []
    for line, rec in _json_records(text, source):
        if not isinstance(rec, dict):
            problems.append(f"line {line}: a {type(rec).__name__} (expected an object)")
            continue
        present = {k: next((key for key in keys if key in rec), None)
                   for k, keys in JSON_KEYS.items()}
        missing = [JSON_KEYS[k][-1] for k in JSON_REQUIRED if present[k] is None]
        if present["intvty"] is None and present["tpot"] is None:
            missing.append("median_intvty or median_tpot")
        if missing:
            problems.append(f"line {line}: missing field(s) " + ", ".join(missing))
            continue
        names = {k: (v or JSON_KEYS[k][0]) for k, v in present.items()}
        try:
            rows.append(_row(line, lambda k, r=rec, p=present: r.get(p[k]) if p[k] else None,
                             names, 1.0))
        except _RowError as exc:
            problems.append(f"line {line}: {exc}")
    return Measured(rows, problems, source, "", "agg_bmk.json", "s")


def read_measured(path: str | Path) -> Measured:
    """Read a measured-results file: ``.csv`` (the dashboard export) or ``.json`` (the
    harness's ``agg_bmk.json``). ``source`` is the file's name (never its full path), with
    the SHA-256 of its bytes. Raises :class:`MeasuredError` when the file cannot be read
    or has the wrong layout; row problems are returned in :attr:`Measured.problems`."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MeasuredError(p.name, [f"cannot read the file ({exc.strerror})"]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MeasuredError(p.name, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) \
            from None
    suffix = p.suffix.lower()
    if suffix == ".csv":
        out = read_csv(text, p.name)
    elif suffix == ".json":
        out = read_agg_json(text, p.name)
    else:
        raise MeasuredError(p.name, [f"a .csv (InferenceX CSV export) or .json "
                                     f"(agg_bmk.json) file (got {p.suffix or 'no suffix'!r})"])
    out.sha256 = hashlib.sha256(data).hexdigest()
    return out
