"""Farmland blocks: rotated grids of field cells, one per slot of a lattice laid over each county.

Parcels are drawn one per occupied cell, strictly inside it, so no two parcels overlap unless
an overlap is planted on purpose. High-standard farmland projects are drawn over groups of
cells (tiles), so they cover parcels and the gaps between them as real projects do.
Coordinates are metres: block frame (x along the rows, y across) -> county frame (east,
north of the county seat) -> lon/lat.

Blocks sit in the slots of a square lattice over the county (slots whose square lies inside
the county, none on the county town), nearest the seat first with some noise, each block
sized to fit its slot; the slots left over hold the projects that lie off the farmland. A
county that needs more parcels than its slots hold gets a finer lattice and finer fields
(`Blocks.unit`): every length shrinks by the same factor, so a province of a million parcels
fits the island with fields of a few thousand m2 (Hainan's are small), and placement never runs
out of room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from pipelines.sample.region import County, FloatArray, to_lonlat

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

GAP_M = 300.0  # clear land around a block: room for project margins, at full size
SLOT_M = 1400.0  # lattice pitch at full size: a block of up to ~1.1 km plus the gap
CELL_M = (65.0, 175.0)  # field cell sides at full size
TOWN_M = 2000.0  # no farmland block this close to the county seat
EMPTY_CELL_SHARE = 0.07  # ponds, hamlets, roads inside a farmland block
MAX_GRID = 12  # rows and columns of a block at most
SPARE_SLOT_SHARE = 0.2  # slots kept free of blocks for projects off the farmland
SHRINK = 0.85  # a crowded county's lattice and fields shrink by this factor until all fit


@dataclass
class Blocks:
    county: IntArray  # index into counties()
    cx: FloatArray  # block centre, metres east of the county seat
    cy: FloatArray
    theta: FloatArray  # rotation of the grid, radians
    cw: FloatArray  # cell width / height, metres
    ch: FloatArray
    nrows: IntArray
    ncols: IntArray
    occupied: BoolArray  # (blocks, MAX_GRID, MAX_GRID): the cell holds a parcel
    unit: FloatArray  # per county: length factor (1 full size, smaller where crowded)
    spare_county: IntArray  # slots holding no block: county, centre (metres from the seat)
    spare_x: FloatArray
    spare_y: FloatArray

    @property
    def radius(self) -> FloatArray:
        return 0.5 * np.hypot(self.ncols * self.cw, self.nrows * self.ch)

    def to_lonlat(
        self, block: IntArray, xy: FloatArray, counties: tuple[County, ...]
    ) -> FloatArray:
        """Block-frame rings (m, k, 2) of the given blocks to lon/lat rings of the same shape."""
        cos, sin = np.cos(self.theta[block])[:, None], np.sin(self.theta[block])[:, None]
        east = xy[..., 0] * cos - xy[..., 1] * sin + self.cx[block][:, None]
        north = xy[..., 0] * sin + xy[..., 1] * cos + self.cy[block][:, None]
        seats = np.array([c.seat for c in counties])[self.county[block]]
        lon, lat = to_lonlat(east, north, seats[:, 0:1], seats[:, 1:2])
        return np.stack([lon, lat], axis=-1)

    def footprints(self, counties: tuple[County, ...], margin_m: float) -> shapely.Geometry:
        """Union-free collection of block rectangles grown by margin_m, in lon/lat."""
        margin = margin_m * self.unit[self.county]
        half_w = (self.ncols * self.cw / 2.0 + margin)[:, None]
        half_h = (self.nrows * self.ch / 2.0 + margin)[:, None]
        xy = np.stack([half_w * [-1, 1, 1, -1], half_h * [-1, -1, 1, 1]], axis=-1)
        rings = self.to_lonlat(np.arange(self.cx.size), xy, counties)
        return shapely.multipolygons(shapely.polygons(rings))


def _slots(rng: np.random.Generator, county: County, pitch: float) -> FloatArray:
    """(m, 2) centres (metres from the seat) of lattice squares lying inside the county,
    off the town, nearest the seat first (with noise: farmland thins out unevenly)."""
    x0, y0, x1, y1 = county.polygon.bounds
    seat_lon, seat_lat = county.seat
    per = 111_320.0 * np.array([np.cos(np.radians(seat_lat)), 1.0])  # rough: for the extent
    lo = (np.array([x0, y0]) - county.seat) * per - pitch
    hi = (np.array([x1, y1]) - county.seat) * per + pitch
    off = rng.uniform(0.0, pitch, 2)
    gx = np.arange(np.floor(lo[0] / pitch), np.ceil(hi[0] / pitch) + 1) * pitch + off[0]
    gy = np.arange(np.floor(lo[1] / pitch), np.ceil(hi[1] / pitch) + 1) * pitch + off[1]
    x, y = (a.ravel() for a in np.meshgrid(gx, gy, indexing="ij"))
    x, y = x[np.hypot(x, y) > TOWN_M], y[np.hypot(x, y) > TOWN_M]
    half = pitch / 2.0
    sq = np.stack([x[:, None] + half * np.array([-1, 1, 1, -1]),
                   y[:, None] + half * np.array([-1, -1, 1, 1])], axis=-1)
    lon, lat = to_lonlat(sq[..., 0], sq[..., 1], seat_lon, seat_lat)
    inside = shapely.contains(county.polygon, shapely.polygons(np.stack([lon, lat], -1)))
    x, y = x[inside], y[inside]
    order = np.argsort(np.hypot(x, y) * rng.lognormal(0.0, 0.35, x.size), kind="stable")
    return np.stack([x[order], y[order]], axis=-1)


def _grids(
    rng: np.random.Generator, m: int, unit: float
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray, BoolArray]:
    """m blocks' rotation, cell sides, rows, columns and occupied cells, each grid sized to
    fit a slot whatever its rotation."""
    theta = rng.uniform(-np.pi / 4, np.pi / 4, m)
    cw, ch = (rng.uniform(*CELL_M, (2, m)) * unit)
    c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta))
    room = (SLOT_M - GAP_M) * unit
    # a k x k grid's rotated bounding box fits the slot; so does any smaller grid
    k = np.floor(room / np.maximum(cw * c + ch * s, cw * s + ch * c)).astype(np.int64)
    k = np.clip(k, 1, MAX_GRID)
    low = np.maximum(1, k - 4)
    nr = low + np.floor(rng.random(m) * (k - low + 1)).astype(np.int64)
    nc = low + np.floor(rng.random(m) * (k - low + 1)).astype(np.int64)
    span = np.arange(MAX_GRID)
    inside = (span[None, :, None] < nr[:, None, None]) & (span[None, None, :] < nc[:, None, None])
    cells = (rng.random((m, MAX_GRID, MAX_GRID)) >= EMPTY_CELL_SHARE) & inside
    cells[:, 0, 0] |= ~cells.any(axis=(1, 2))  # never an empty block
    return theta, cw, ch, nr, nc, cells


def place_blocks(
    rng: np.random.Generator, counties: tuple[County, ...], parcels_per_county: IntArray
) -> Blocks:
    """Blocks in the slots of each county until it has one occupied cell per parcel it needs."""
    parts: list[tuple[int, FloatArray, tuple[npt.NDArray[Any], ...], BoolArray]] = []
    units = np.ones(len(counties))
    spare: list[tuple[int, FloatArray]] = []
    for ci, (county, need) in enumerate(zip(counties, parcels_per_county.tolist(), strict=True)):
        shapely.prepare(county.polygon)
        unit = 1.0
        while True:
            slots = _slots(rng, county, SLOT_M * unit)
            theta, cw, ch, nr, nc, cells = _grids(rng, len(slots), unit)
            per_block = cells.sum(axis=(1, 2))
            filled = np.cumsum(per_block)
            usable = int(np.floor(len(slots) * (1.0 - SPARE_SLOT_SHARE)))
            if need == 0 or (usable > 0 and filled[usable - 1] >= need):
                break
            unit *= SHRINK
        units[ci] = unit
        used = int(np.searchsorted(filled, need)) + 1 if need else 0
        cells = cells[:used].copy()
        if used:  # the last block keeps only as many parcels as the county still needs
            before = int(filled[used - 2]) if used > 1 else 0
            flat = cells[used - 1].ravel()
            cells[used - 1] = (flat & (np.cumsum(flat) <= need - before)).reshape(flat.size
                                                                                 // MAX_GRID, -1)
        parts.append((ci, slots[:used], (theta[:used], cw[:used], ch[:used],
                                         nr[:used], nc[:used]), cells))
        spare.append((ci, slots[used:]))
    county_of = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts])
    centre = np.concatenate([p[1] for p in parts])
    theta, cw, ch, nr, nc = (np.concatenate([p[2][i] for p in parts]) for i in range(5))
    return Blocks(
        county=county_of,
        cx=centre[:, 0].copy(),
        cy=centre[:, 1].copy(),
        theta=theta,
        cw=cw,
        ch=ch,
        nrows=nr.astype(np.int64),
        ncols=nc.astype(np.int64),
        occupied=np.concatenate([p[3] for p in parts]),
        unit=units,
        spare_county=np.concatenate([np.full(len(s), c, dtype=np.int64) for c, s in spare]),
        spare_x=np.concatenate([s[:, 0] for _, s in spare]),
        spare_y=np.concatenate([s[:, 1] for _, s in spare]),
    )


@dataclass
class Cells:
    """The occupied cells, one parcel each, in block then row-major order."""

    block: IntArray
    row: IntArray
    col: IntArray

    @classmethod
    def of(cls, blocks: Blocks) -> Cells:
        block, row, col = np.nonzero(blocks.occupied)
        return cls(block=block.astype(np.int64), row=row.astype(np.int64),
                   col=col.astype(np.int64))

    def origin(self, blocks: Blocks) -> tuple[FloatArray, FloatArray]:
        """Lower-left corner of each cell in its block frame."""
        b = self.block
        x0 = (self.col - blocks.ncols[b] / 2.0) * blocks.cw[b]
        y0 = (self.row - blocks.nrows[b] / 2.0) * blocks.ch[b]
        return x0, y0
