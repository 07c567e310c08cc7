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
import pandas as pd
import shapely

from pipelines.sample import parcels
from pipelines.sample.farmland import FarmlandPbf
from pipelines.sample.layout import GAP_M, Blocks, IntArray
from pipelines.sample.plant import RowPicker, share
from pipelines.sample.region import M2_PER_MU, County, FloatArray, geodesic_areas, to_lonlat

OFF_BLOCK_SHARE = 0.06
STATES = ("已验收", "在建", "储备")
UNKNOWN_STATES = ("已完工", "已竣工", "完工")


@dataclass
class FarmlandHsf:
    frame: gpd.GeoDataFrame  # EPSG:4490, lower-case field codes as the department sends them
    bad: dict[str, int]


def _tiles(rng: np.random.Generator, blocks: Blocks) -> list[list[tuple[int, int, int, int]]]:
    """Per block, disjoint rectangles of 1-3 x 1-3 cells (row, col, rows, cols) that hold
    at least one parcel: nobody builds a farmland project on a pond alone."""
    out = []
    for nr, nc, occ in zip(
        blocks.nrows.tolist(), blocks.ncols.tolist(), blocks.occupied, strict=True
    ):
        tiles: list[tuple[int, int, int, int]] = []
        i = 0
        while i < nr:
            th = min(int(rng.choice([1, 2, 3], p=[0.2, 0.45, 0.35])), nr - i)
            j = 0
            while j < nc:
                tw = min(int(rng.choice([1, 2, 3], p=[0.2, 0.45, 0.35])), nc - j)
                if occ[i : i + th, j : j + tw].any():
                    tiles.append((i, j, th, tw))
                j += tw
            i += th
        out.append([tiles[k] for k in rng.permutation(len(tiles)).tolist()])
    return out


def _tile_ring(
    rng: np.random.Generator, blocks: Blocks, b: int, tile: tuple[int, int, int, int]
) -> FloatArray:
    i, j, th, tw = tile
    nr, nc, cw, ch = int(blocks.nrows[b]), int(blocks.ncols[b]), blocks.cw[b], blocks.ch[b]
    x0, x1 = (j - nc / 2) * cw + 1.5, (j + tw - nc / 2) * cw - 1.5
    y0, y1 = (i - nr / 2) * ch + 1.5, (i + th - nr / 2) * ch - 1.5
    ring = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    # On the block edge the project boundary may run past the farmland (hsf_only land).
    reach = rng.uniform(0.0, 0.35, (4, 2)) * [cw, ch] * (rng.random() < 0.5)
    ring[[0, 3], 0] -= reach[[0, 3], 0] * (j == 0)
    ring[[1, 2], 0] += reach[[1, 2], 0] * (j + tw == nc)
    ring[[0, 1], 1] -= reach[[0, 1], 1] * (i == 0)
    ring[[2, 3], 1] += reach[[2, 3], 1] * (i + th == nr)
    return ring


def _off_block(
    rng: np.random.Generator, county: County, blocks: Blocks, near: int, taken: list[FloatArray]
) -> shapely.Polygon:
    """An irregular 2-15 ha polygon near block `near`, clear of every block and earlier one."""
    area = np.exp(rng.uniform(np.log(2e4), np.log(1.5e5)))
    k = int(rng.integers(6, 10))
    # Evenly spread angles (jittered) keep every gap under pi: a simple, star-shaped ring.
    angles = 2 * np.pi * (np.arange(k) + rng.uniform(-0.3, 0.3, k)) / k
    radii = rng.uniform(0.7, 1.0, k)
    ring = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], -1)
    ring *= np.sqrt(area / shapely.area(shapely.Polygon(ring)))
    r = float(np.hypot(*ring.T).max())
    same = np.flatnonzero(blocks.county == blocks.county[near])
    obstacles = np.column_stack([blocks.cx[same], blocks.cy[same], blocks.radius[same] + GAP_M / 2])
    if taken:
        obstacles = np.vstack([obstacles, np.array(taken)])
    spread = 1.0
    for _ in range(200):
        dist = rng.uniform(0.0, 2000.0 * spread, 64) + blocks.radius[near] + GAP_M + r
        ang = rng.uniform(0, 2 * np.pi, 64)
        cx, cy = blocks.cx[near] + dist * np.cos(ang), blocks.cy[near] + dist * np.sin(ang)
        gap = np.hypot(cx[:, None] - obstacles[:, 0], cy[:, None] - obstacles[:, 1])
        clear = np.all(gap > obstacles[:, 2] + r, axis=1)
        lon, lat = to_lonlat(ring[:, 0] + cx[:, None], ring[:, 1] + cy[:, None], *county.seat)
        polys = shapely.polygons(np.stack([lon, lat], -1))
        ok = np.flatnonzero(clear & shapely.contains(county.polygon, polys))
        if ok.size:
            taken.append(np.array([cx[ok[0]], cy[ok[0]], r + 50.0]))
            return polys[ok[0]]
        spread *= 1.1
    raise RuntimeError(f"no room for an off-block project area in {county.name}")


def make_hsf(
    rng: np.random.Generator, counties: tuple[County, ...], pbf: FarmlandPbf, scale: int
) -> FarmlandHsf:
    blocks = pbf.blocks
    tiles = _tiles(rng, blocks)
    cells = np.array([occ.sum() for occ in blocks.occupied], dtype=float)
    weight = np.bincount(blocks.county, weights=cells, minlength=len(counties))
    per_county = rng.multinomial(40 * scale, weight / weight.sum())
    project: list[int] = []
    home_village: list[int] = []
    tile_rings: dict[int, FloatArray] = {}
    ring_block: list[int] = []
    geometry: list[shapely.Polygon | None] = []
    for ci, county in enumerate(counties):
        own_blocks = np.flatnonzero(blocks.county == ci).tolist()
        taken: list[FloatArray] = []
        for _ in range(int(per_county[ci])):
            home = int(rng.choice(own_blocks))
            home_village.append(int(pbf.block_village[home]))
            n_poly = int(rng.choice([1, 2, 3, 4, 5], p=[0.35, 0.3, 0.15, 0.12, 0.08]))
            for k in range(n_poly):
                # Fill from the home block, then from the county's other blocks.
                source = next((b for b in [home, *own_blocks] if tiles[b]), None)
                if source is None and k > 0:
                    break  # the county's farmland is all taken: a smaller project
                if source is None or rng.random() < OFF_BLOCK_SHARE:
                    geometry.append(_off_block(rng, county, blocks, home, taken))
                    ring_block.append(-1)
                else:
                    tile_rings[len(geometry)] = _tile_ring(rng, blocks, source, tiles[source].pop())
                    geometry.append(None)
                    ring_block.append(source)
                project.append(len(home_village) - 1)
    n = len(geometry)
    block_of = np.array(ring_block, dtype=np.int64)
    picker = RowPicker(rng, n)
    invalid = picker.take(share(n, 0.025), eligible=block_of >= 0)
    shapes = np.empty(n, dtype=object)
    shapes[:] = geometry
    on_block = np.flatnonzero(block_of >= 0)
    intended = [tile_rings[i] for i in on_block.tolist()]
    shapes[on_block] = parcels.to_polygons(intended, block_of[on_block], blocks, counties)
    area_mu = geodesic_areas(shapes) / M2_PER_MU  # the project's own figure, before any error
    broken = [parcels.bow_tie(tile_rings[i]) for i in invalid.tolist()]
    shapes[invalid] = parcels.to_polygons(broken, block_of[invalid], blocks, counties)

    df = _attributes(rng, counties, pbf, np.array(project), np.array(home_village), area_mu)
    bad_state = picker.take(share(n, 0.025))
    df.loc[bad_state, "jszt"] = rng.choice(UNKNOWN_STATES, bad_state.size)
    df.loc[bad_state, "ysrq"] = None
    frame = gpd.GeoDataFrame(df, geometry=list(shapes), crs="EPSG:4490")
    return FarmlandHsf(frame, {"geometry_valid": invalid.size, "domain": bad_state.size})


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
    accepted_on = [
        _acceptance_date(rng, int(y)) if s == "已验收" else None
        for s, y in zip(state.tolist(), year.tolist(), strict=True)
    ]
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
    per_project = pd.DataFrame(
        {
            "xmbh": [f"HN{y}-{c}-{s:03d}" for y, c, s in zip(year, codes, serial, strict=True)],
            "xmmc": [
                f"{counties[c].full_name}{y}年{pbf.villages.town[v]}高标准农田建设项目"
                for c, y, v in zip(
                    county.tolist(), year.tolist(), home_village.tolist(), strict=True
                )
            ],
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


def _acceptance_date(rng: np.random.Generator, year: int) -> str:
    """Projects are accepted in the spring to autumn after their construction year."""
    start = pd.Timestamp(year + 1, 3, 1)
    end = min(pd.Timestamp(year + 2, 6, 30), pd.Timestamp(2026, 10, 31))
    day = start + pd.Timedelta(days=int(rng.integers(0, (end - start).days)))
    return f"{day:%Y-%m-%d}"
