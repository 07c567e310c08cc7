"""Farmland blocks: rotated grids of field cells placed near county seats.

Parcels are drawn one per occupied cell, strictly inside it, so no two parcels overlap unless
an overlap is planted on purpose. High-standard farmland projects are drawn over groups of
cells (tiles), so they cover parcels and the gaps between them as real projects do.
Coordinates are metres: block frame (x along the rows, y across) -> county frame (east,
north of the county seat) -> lon/lat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from pipelines.sample.region import County, FloatArray, to_lonlat

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

GAP_M = 300.0  # clear land around a block: room for project margins and off-block projects
EMPTY_CELL_SHARE = 0.07  # ponds, hamlets, roads inside a farmland block


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
    occupied: list[BoolArray]  # (nrows, ncols): the cell holds a parcel

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
        half_w = (self.ncols * self.cw / 2.0 + margin_m)[:, None]
        half_h = (self.nrows * self.ch / 2.0 + margin_m)[:, None]
        xy = np.stack([half_w * [-1, 1, 1, -1], half_h * [-1, -1, 1, 1]], axis=-1)
        rings = self.to_lonlat(np.arange(self.cx.size), xy, counties)
        return shapely.multipolygons(shapely.polygons(rings))


def _rectangles(
    cx: FloatArray, cy: FloatArray, theta: float, half_w: float, half_h: float
) -> FloatArray:
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return np.asarray(corners @ rot.T + np.stack([cx, cy], axis=-1)[:, None, :], dtype=np.float64)


def place_blocks(
    rng: np.random.Generator, counties: tuple[County, ...], parcels_per_county: IntArray
) -> Blocks:
    """Grids of cells near each seat, inside the county, clear of each other, until every
    county has one occupied cell per parcel it needs."""
    cols: dict[str, list[float]] = {k: [] for k in ("county", "cx", "cy", "theta", "cw", "ch")}
    nrows: list[int] = []
    ncols: list[int] = []
    occupied: list[BoolArray] = []
    for ci, (county, need) in enumerate(zip(counties, parcels_per_county.tolist(), strict=True)):
        shapely.prepare(county.polygon)
        placed = np.empty((0, 3))  # cx, cy, radius of blocks already in this county
        area_m2 = float(np.sum(shapely.area(county.polygon))) * 111_000.0 * 105_000.0
        sigma = 0.2 * np.sqrt(area_m2)
        while need > 0:
            nr, nc = (int(v) for v in rng.integers(3, 8, 2))
            cw, ch = (float(v) for v in rng.uniform(65.0, 175.0, 2))
            theta = float(rng.uniform(-np.pi / 4, np.pi / 4))
            if need < nr * nc:  # last block of the county: a grid just big enough
                cells_needed = need / (1.0 - EMPTY_CELL_SHARE)
                nr = min(nr, int(np.ceil(np.sqrt(cells_needed))))
                nc = min(nc, int(np.ceil(cells_needed / nr)))
            cells = rng.random((nr, nc)) >= EMPTY_CELL_SHARE
            cells &= np.cumsum(cells.ravel()).reshape(nr, nc) <= need
            cells.flat[0] |= not cells.any()  # never an empty block
            radius = 0.5 * np.hypot(nc * cw, nr * ch) + GAP_M
            for _ in range(400):
                cand = rng.normal(0.0, sigma, (64, 2))
                dist = np.hypot(cand[:, None, 0] - placed[:, 0], cand[:, None, 1] - placed[:, 1])
                clear = np.all(dist > placed[:, 2] + radius, axis=1)
                rect = _rectangles(
                    cand[:, 0], cand[:, 1], theta, nc * cw / 2 + GAP_M, nr * ch / 2 + GAP_M
                )
                lon, lat = to_lonlat(rect[..., 0], rect[..., 1], county.seat[0], county.seat[1])
                inside = shapely.contains(
                    county.polygon, shapely.polygons(np.stack([lon, lat], -1))
                )
                ok = np.flatnonzero(clear & inside)
                if ok.size:
                    break
                # crowded near the seat: look further out, but not far off the county
                sigma = min(sigma * 1.05, 0.6 * np.sqrt(area_m2))
            else:
                raise RuntimeError(f"no room left for farmland blocks in {county.name}")
            x, y = cand[ok[0]]
            placed = np.vstack([placed, [x, y, radius]])
            for key, value in zip(cols, (ci, x, y, theta, cw, ch), strict=True):
                cols[key].append(float(value))
            nrows.append(nr)
            ncols.append(nc)
            occupied.append(cells)
            need -= int(cells.sum())
    return Blocks(
        county=np.array(cols["county"], dtype=np.int64),
        cx=np.array(cols["cx"]),
        cy=np.array(cols["cy"]),
        theta=np.array(cols["theta"]),
        cw=np.array(cols["cw"]),
        ch=np.array(cols["ch"]),
        nrows=np.array(nrows, dtype=np.int64),
        ncols=np.array(ncols, dtype=np.int64),
        occupied=occupied,
    )


@dataclass
class Cells:
    """The occupied cells, one parcel each, in block then row-major order."""

    block: IntArray
    row: IntArray
    col: IntArray

    @classmethod
    def of(cls, blocks: Blocks) -> Cells:
        rows, cols = zip(*(np.nonzero(occ) for occ in blocks.occupied), strict=True)
        return cls(
            block=np.repeat(np.arange(len(rows)), [r.size for r in rows]).astype(np.int64),
            row=np.concatenate(rows).astype(np.int64),
            col=np.concatenate(cols).astype(np.int64),
        )

    def origin(self, blocks: Blocks) -> tuple[FloatArray, FloatArray]:
        """Lower-left corner of each cell in its block frame."""
        b = self.block
        x0 = (self.col - blocks.ncols[b] / 2.0) * blocks.cw[b]
        y0 = (self.row - blocks.nrows[b] / 2.0) * blocks.ch[b]
        return x0, y0
