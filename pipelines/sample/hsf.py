"""高标准农田建设项目区 (farmland_hsf): projects drawn over farmland blocks, and some off them.

A project polygon over a block (a tile of whole cells) covers parcels and the ditches, ponds
and roads between them, and may reach past the block edge; a polygon off the blocks covers
no permanent basic farmland at all. Together they give an overlay with pbf_and_hsf,
hsf_only and pbf_only pieces, about 60 % of the project area lying on parcels.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.sample import parcels
from pipelines.sample.farmland import FarmlandPbf
from pipelines.sample.layout import MAX_GRID, SLOT_M, Blocks, IntArray
from pipelines.sample.plant import RowPicker, share
from pipelines.sample.region import M2_PER_MU, County, FloatArray, ellipsoidal_areas, to_lonlat

OFF_BLOCK_SHARE = 0.06
STATES = ("已验收", "在建", "储备")
UNKNOWN_STATES = ("已完工", "已竣工", "完工")


@dataclass
class FarmlandHsf:
    frame: gpd.GeoDataFrame  # EPSG:4490, lower-case field codes as the department sends them
    bad: dict[str, IntArray]  # rule -> rows breaking it


# Tile sides (cells) drawn from 1, 2, 3: the mix where projects are few against the farmland,
# and the one for many small projects (a province's 300,000 polygons on 1,000,000 parcels).
_SIDES_LARGE = np.array([0.2, 0.45, 0.35])
_SIDES_SMALL = np.array([0.6, 0.4, 0.0])
_COVERED = 0.6  # share of the tiles projects are built on
_POLYGONS_PER_PROJECT = ([1, 2, 3, 4, 5], [0.35, 0.3, 0.15, 0.12, 0.08])


def _side_odds(cells: int, polygons: int) -> FloatArray:
    """Tile side odds giving about enough tiles for the on-block polygons at _COVERED."""
    mean_area = _COVERED * cells / max(1.0, (1.0 - OFF_BLOCK_SHARE) * polygons)
    mean_side = np.sqrt(mean_area)
    w = float(np.clip((mean_side - 1.4) / (2.15 - 1.4), 0.0, 1.0))
    odds: FloatArray = w * _SIDES_LARGE + (1.0 - w) * _SIDES_SMALL
    return odds


def _tiles(rng: np.random.Generator, blocks: Blocks, odds: FloatArray) -> IntArray:
    """(tiles, 5): block, row, col, rows, cols of disjoint rectangles of 1-3 x 1-3 cells that
    hold at least one parcel (nobody builds a farmland project on a pond alone), each
    block's in random order, blocks in order."""
    b, g = blocks.county.size, MAX_GRID
    heights = rng.choice(3, (b, g), p=odds) + 1
    widths = rng.choice(3, (b, g, g), p=odds) + 1
    row0 = np.cumsum(heights, axis=1) - heights
    col0 = np.cumsum(widths, axis=2) - widths
    nr, nc = blocks.nrows[:, None, None], blocks.ncols[:, None, None]
    live = (row0[:, :, None] < nr) & (col0 < nc)
    th = np.minimum(heights, blocks.nrows[:, None] - row0)
    tw = np.minimum(widths, nc - col0)
    block, band, seg = np.nonzero(live)
    r0, c0 = row0[block, band], col0[block, band, seg]
    r1, c1 = r0 + th[block, band], c0 + tw[block, band, seg]
    # parcels under each tile, from the blocks' 2-D prefix sums
    s = np.zeros((b, g + 1, g + 1), dtype=np.int64)
    s[:, 1:, 1:] = blocks.occupied.cumsum(axis=1).cumsum(axis=2)
    held = s[block, r1, c1] - s[block, r0, c1] - s[block, r1, c0] + s[block, r0, c0]
    tiles: IntArray = np.stack([block, r0, c0, r1 - r0, c1 - c0], axis=1)[held > 0]
    return tiles[np.lexsort((rng.random(len(tiles)), tiles[:, 0]))]


def _tile_rings(rng: np.random.Generator, blocks: Blocks, tiles: IntArray) -> FloatArray:
    b, i, j, th, tw = tiles.T
    nr, nc, cw, ch = blocks.nrows[b], blocks.ncols[b], blocks.cw[b], blocks.ch[b]
    inset = 1.5 * blocks.unit[blocks.county[b]]
    x0, x1 = (j - nc / 2) * cw + inset, (j + tw - nc / 2) * cw - inset
    y0, y1 = (i - nr / 2) * ch + inset, (i + th - nr / 2) * ch - inset
    ring = np.stack([np.stack([x0, x1, x1, x0], -1), np.stack([y0, y0, y1, y1], -1)], -1)
    # On the block edge the project boundary may run past the farmland (hsf_only land).
    reach = rng.uniform(0.0, 0.35, (len(b), 4, 2)) * np.stack([cw, ch], -1)[:, None, :]
    reach *= (rng.random(len(b)) < 0.5)[:, None, None]
    ring[:, [0, 3], 0] -= reach[:, [0, 3], 0] * (j == 0)[:, None]
    ring[:, [1, 2], 0] += reach[:, [1, 2], 0] * (j + tw == nc)[:, None]
    ring[:, [0, 1], 1] -= reach[:, [0, 1], 1] * (i == 0)[:, None]
    ring[:, [2, 3], 1] += reach[:, [2, 3], 1] * (i + th == nr)[:, None]
    out: FloatArray = ring
    return out


def _spots(blocks: Blocks, ci: int) -> FloatArray:
    """(m, 2) centres of the places for off-block projects in county ci: the four quarters
    of each slot holding no block."""
    mine = blocks.spare_county == ci
    q = SLOT_M * blocks.unit[ci] / 4.0
    corner = np.array([[-q, -q], [q, -q], [-q, q], [q, q]])
    centre = np.stack([blocks.spare_x[mine], blocks.spare_y[mine]], -1)
    out: FloatArray = (centre[:, None, :] + corner[None]).reshape(-1, 2)
    return out


def _off_block_rings(rng: np.random.Generator, n: int, unit: FloatArray) -> FloatArray:
    """n irregular 2-15 ha (at full size) 8-gon rings centred on 0, 0, within a quarter slot."""
    area = np.exp(rng.uniform(np.log(2e4), np.log(1.5e5), n)) * unit**2
    k = 8
    # Evenly spread angles (jittered) keep every gap under pi: a simple, star-shaped ring.
    angles = 2 * np.pi * (np.arange(k) + rng.uniform(-0.3, 0.3, (n, k))) / k
    radii = rng.uniform(0.7, 1.0, (n, k))
    ring = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], -1)
    x, y = ring[..., 0], ring[..., 1]
    shoelace = 0.5 * np.abs(np.sum(x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y, axis=1))
    scale = np.sqrt(area / shoelace)
    # clear of the quarter's neighbours and of the blocks around the slot
    scale = np.minimum(scale, 0.85 * SLOT_M / 4.0 * unit / radii.max(axis=1))
    out: FloatArray = ring * scale[:, None, None]
    return out


def make_hsf(
    rng: np.random.Generator, counties: tuple[County, ...], pbf: FarmlandPbf, n: int
) -> FarmlandHsf:
    """n project polygons, about 6 % off the farmland, grouped into projects of 1-5."""
    blocks = pbf.blocks
    cells = blocks.occupied.sum(axis=(1, 2))
    tiles = _tiles(rng, blocks, _side_odds(int(cells.sum()), n))
    weight = np.bincount(blocks.county, weights=cells, minlength=len(counties))
    per_county = rng.multinomial(n, weight / weight.sum())
    tile_county = blocks.county[tiles[:, 0]]
    county_tiles = [np.flatnonzero(tile_county == ci) for ci in range(len(counties))]
    # Per polygon: its county, its tile (or -1: off the blocks), the block it belongs near.
    poly_county = np.repeat(np.arange(len(counties)), per_county)
    poly_tile = np.full(n, -1, dtype=np.int64)
    poly_near = np.zeros(n, dtype=np.int64)
    project = np.zeros(n, dtype=np.int64)
    spot_xy = np.zeros((n, 2))
    projects = 0
    for ci in range(len(counties)):
        rows = np.flatnonzero(poly_county == ci)
        if not rows.size:
            continue
        own = county_tiles[ci]
        spots = _spots(blocks, ci)
        off = rng.random(rows.size) < OFF_BLOCK_SHARE
        # as many off the blocks as there is room for, as many on them as there are tiles
        off &= np.cumsum(off) <= len(spots)
        off |= np.cumsum(~off) > own.size
        if np.cumsum(off)[-1] > len(spots):
            raise RuntimeError(f"no room for {rows.size} project areas in {counties[ci].name}")
        on_index = np.cumsum(~off) - 1  # the tile each on-block polygon takes, in order
        poly_tile[rows[~off]] = own[on_index[~off]]
        near = own[np.clip(on_index, 0, own.size - 1)] if own.size else np.zeros(0, np.int64)
        poly_near[rows] = tiles[near, 0] if own.size else 0
        sizes = rng.choice(_POLYGONS_PER_PROJECT[0], rows.size, p=_POLYGONS_PER_PROJECT[1])
        project[rows] = projects + np.searchsorted(np.cumsum(sizes), np.arange(rows.size),
                                                   side="right")
        projects = int(project[rows].max()) + 1
        # each polygon off the blocks takes the free place nearest the block it belongs to
        free = np.ones(len(spots), dtype=bool)
        for r in rows[off].tolist():
            d = np.hypot(spots[:, 0] - blocks.cx[poly_near[r]],
                         spots[:, 1] - blocks.cy[poly_near[r]])
            d[~free] = np.inf
            k = int(np.argmin(d))
            free[k] = False
            spot_xy[r] = spots[k]
    project = np.unique(project, return_inverse=True)[1].astype(np.int64)
    on_block = poly_tile >= 0
    shapes = np.empty(n, dtype=object)
    ring_of = np.zeros((n, 4, 2))
    ring_of[on_block] = _tile_rings(rng, blocks, tiles[poly_tile[on_block]])
    shapes[on_block] = parcels.to_polygons(ring_of[on_block], tiles[poly_tile[on_block], 0],
                                           blocks, counties)
    off_rows = np.flatnonzero(~on_block)
    rings = _off_block_rings(rng, off_rows.size, blocks.unit[poly_county[off_rows]])
    rings += spot_xy[off_rows][:, None, :]
    seats = np.array([c.seat for c in counties])[poly_county[off_rows]]
    lon, lat = to_lonlat(rings[..., 0], rings[..., 1], seats[:, 0:1], seats[:, 1:2])
    shapes[off_rows] = shapely.polygons(np.stack([lon, lat], -1))
    area_mu = ellipsoidal_areas(shapes) / M2_PER_MU  # the project's own figure, before errors
    picker = RowPicker(rng, n)
    invalid = picker.take(share(n, 0.025), eligible=on_block)
    shapes[invalid] = parcels.to_polygons(parcels.bow_ties(ring_of[invalid]),
                                          tiles[poly_tile[invalid], 0], blocks, counties)

    block_of = np.where(on_block, tiles[np.maximum(poly_tile, 0), 0], poly_near)
    home_block = block_of[np.unique(project, return_index=True)[1]]  # its first polygon's
    df = _attributes(rng, counties, pbf, project, pbf.block_village[home_block], area_mu)
    bad_state = picker.take(share(n, 0.025))
    df.loc[bad_state, "jszt"] = rng.choice(UNKNOWN_STATES, bad_state.size)
    df.loc[bad_state, "ysrq"] = None
    frame = gpd.GeoDataFrame(df, geometry=shapes, crs="EPSG:4490")
    return FarmlandHsf(frame, {"geometry_valid": invalid, "domain": bad_state})


def _attributes(
    rng: np.random.Generator,
    counties: tuple[County, ...],
    pbf: FarmlandPbf,
    project: IntArray,
    home_village: IntArray,
    area_mu: FloatArray,
) -> pd.DataFrame:
    """One row per polygon; the project's fields repeat on each of its rows, as delivered."""
    n_proj = home_village.size
    county = pbf.villages.county[home_village]
    state = rng.choice(STATES, n_proj, p=[0.55, 0.3, 0.15])
    year = np.select(
        [state == "已验收", state == "在建"],
        [rng.integers(2019, 2025, n_proj), rng.integers(2023, 2026, n_proj)],
        rng.integers(2024, 2026, n_proj),
    )
    accepted_on = _acceptance_dates(rng, year)
    accepted_on[state != "已验收"] = None
    codes = np.array([c.code for c in counties])[county]
    serial = pd.Series(np.arange(n_proj)).groupby([codes, year]).cumcount().to_numpy() + 1
    project_mu = np.bincount(project, weights=area_mu, minlength=n_proj)
    jsmj = np.round(project_mu * rng.normal(1.0, 0.01, n_proj), 2)
    old = year <= 2020
    quality = np.where(
        rng.random(n_proj) < np.where(old, 0.3, 0.08),
        "需要提质改造",
        np.where(rng.random(n_proj) < 0.65, "符合", "基本符合"),
    )
    full_names = np.array([c.full_name for c in counties], dtype=object)
    towns = np.array(pbf.villages.town, dtype=object)
    year_text = year.astype(str).astype(object)
    per_project = pd.DataFrame(
        {
            "xmbh": "HN" + year_text + "-" + codes.astype(object) + "-"
            + np.char.zfill(serial.astype(str), 3).astype(object),
            "xmmc": full_names[county] + year_text + "年" + towns[home_village]
            + "高标准农田建设项目",
            "jsnd": year.astype(np.int32),
            "xzqdm": codes,
            "jsmj": jsmj,
            "xzgdmj": np.round(jsmj * rng.uniform(0.0, 0.05, n_proj), 2),
            "ztz": np.round(jsmj * rng.uniform(0.25, 0.40, n_proj), 2),  # 万元: 2500-4000 yuan/mu
            "jszt": state,
            "ysrq": accepted_on,
            "zldj": quality,
        }
    )
    return per_project.iloc[project].reset_index(drop=True)


def _acceptance_dates(rng: np.random.Generator, year: IntArray) -> npt.NDArray[np.object_]:
    """Projects are accepted in the spring to autumn after their construction year."""
    start = (year + 1 - 1970).astype("datetime64[Y]").astype("datetime64[D]") + 59  # 03-01
    start += ((year + 1) % 4 == 0)  # leap years: 1 March is day 60
    end = np.minimum(
        (year + 2 - 1970).astype("datetime64[Y]").astype("datetime64[D]") + 180
        + ((year + 2) % 4 == 0),  # 30 June
        np.datetime64("2026-10-31"),
    )
    span = (end - start).astype(np.int64)
    day = start + np.floor(rng.random(year.size) * span).astype(np.int64)
    out: npt.NDArray[np.object_] = np.datetime_as_string(day, unit="D").astype(object)
    return out
