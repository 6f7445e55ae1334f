"""What one task of a sweep works on: a chunk of the grid (:class:`ChunkKey`) and the kernel's
view of it (:class:`ChunkInputs`). Planning makes them, backends and kernels read them, the
store writes them: a module below all three, so that none imports another for them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sweep.model import Model, default_model


@dataclass(frozen=True, order=True)
class ChunkKey:
    """One chunk of the grid: its block index and, per axis, the ``[start, stop)`` range.

    One task owns exactly one key, and a key is exactly one Zarr chunk of every output.
    """

    index: tuple[int, ...]
    start: tuple[int, ...]
    stop: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """The chunk's shape."""
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))

    @property
    def size(self) -> int:
        """Number of points in the chunk."""
        return math.prod(self.shape)

    @property
    def slices(self) -> tuple[slice, ...]:
        """Per-axis slices, for indexing a full-grid array."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))

    def region(self, dims: tuple[str, ...]) -> dict[str, slice]:
        """The xarray/Zarr ``region`` of this chunk."""
        return dict(zip(dims, self.slices, strict=True))

    @property
    def name(self) -> str:
        """A file-name-safe id, e.g. ``'0.3.1'``."""
        return ".".join(map(str, self.index))


@dataclass(frozen=True)
class ChunkInputs:
    """The kernel's view of one chunk: every leaf of ``model`` (its inputs, in
    ``model.leaves`` order) as a row of ``table``.

    ``bind[i]`` is the axis (dimension number) leaf ``i`` varies along, or -1 for a
    constant held in ``table[i, 0]`` (the rest of a constant's row is never read, and is
    left unwritten by :func:`fill_inputs`); along an axis, ``table[i, :n]`` holds the values
    for the chunk's ``n`` positions on that axis. Inputs nobody set and no output needs
    are NaN constants.
    """

    table: np.ndarray
    bind: np.ndarray
    shape: tuple[int, ...]
    model: Model = field(default_factory=default_model, compare=False)

    def row(self, name: str) -> int:
        """The table row of leaf ``name``."""
        return self.model.leaves.index(name)

    def window(self, offset: tuple[int, ...], shape: tuple[int, ...]) -> ChunkInputs:
        """The sub-chunk of ``shape`` starting at ``offset`` (positions within this chunk),
        with the same bindings: each leaf bound to dim d keeps its values at
        ``offset[d] : offset[d] + shape[d]``."""
        table = self.table.copy()
        for i, d in enumerate(self.bind):
            if d >= 0:
                a = offset[d]
                table[i, : shape[d]] = self.table[i, a:a + shape[d]]
        return ChunkInputs(table=table, bind=self.bind, shape=tuple(shape), model=self.model)

    def one_point(self) -> ChunkInputs:
        """A one-point chunk with the same bindings: it compiles the same kernels."""
        return ChunkInputs(table=self.table[:, :1].copy(), bind=self.bind,
                           shape=(1,) * len(self.shape), model=self.model)


def fill_inputs(constants: dict[str, float], along: list[tuple[int, dict[str, np.ndarray]]],
                shape: tuple[int, ...], model: Model | None = None) -> ChunkInputs:
    """Kernel inputs of ``shape``: ``constants`` held in column 0, and per ``(dim, values)``
    of ``along`` each named leaf's values along that dim (later entries win)."""
    model = model or default_model()
    leaves = model.leaves
    # only column 0 of a constant's row is read: the rest stays unwritten (a model has
    # dozens of leaves, most of them constants, and the table is made for every chunk)
    table = np.empty((len(leaves), max(shape)), dtype=np.float64)
    table[:, 0] = np.nan
    bind = np.full(len(leaves), -1, dtype=np.int64)
    for name, value in constants.items():
        table[leaves.index(name), 0] = value
    for d, values_of in along:
        for name, values in values_of.items():
            i = leaves.index(name)
            bind[i] = d
            table[i, : len(values)] = values
            table[i, len(values):] = np.nan
    return ChunkInputs(table=table, bind=bind, shape=tuple(shape), model=model)
