"""永久基本农田保护图斑 (farmland_pbf): parcels, attributes and planted problems."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines.sample import names, parcels
from pipelines.sample.layout import Blocks, BoolArray, Cells, IntArray, place_blocks
from pipelines.sample.plant import RowPicker, share
from pipelines.sample.region import County, ellipsoidal_areas

# TD/T 1057 classes found in permanent basic farmland, with a realistic mix.
LAND_CLASSES = {
    "0101": "水田",
    "0102": "水浇地",
    "0103": "旱地",
    "0201": "果园",
    "0204": "其他园地",
    "1104": "坑塘水面",
    "1107": "沟渠",
}
_LAND_SHARE = [0.52, 0.08, 0.33, 0.03, 0.02, 0.01, 0.01]
UNKNOWN_LAND_CLASSES = ("0199", "0100", "0104", "0110")
# Mountain counties of the interior hold little farmland.
_MOUNTAIN = ("469001", "469025", "469029", "469030")


@dataclass
class Villages:
    county: IntArray
    code: list[str]  # 12 digits: county + township + village
    name: list[str]
    town: list[str]


@dataclass
class FarmlandPbf:
    frame: gpd.GeoDataFrame  # EPSG:4490, fields in the contract's order
    blocks: Blocks
    cells: Cells
    villages: Villages
    block_village: IntArray
    loadable: BoolArray  # passes every fail rule
    clean: BoolArray  # no planted problem at all: safe to plant something else on
    bad: dict[str, IntArray] = field(default_factory=dict)  # rule -> rows breaking it
    warn: dict[str, IntArray] = field(default_factory=dict)
    planted: dict[str, int] = field(default_factory=dict)

    @property
    def county(self) -> IntArray:
        """Index of the county each parcel lies in."""
        return self.blocks.county[self.cells.block]


def make_villages(rng: np.random.Generator, counties: tuple[County, ...]) -> Villages:
    county: list[int] = []
    code: list[str] = []
    name: list[str] = []
    town: list[str] = []
    for ci, c in enumerate(counties):
        taken: set[str] = set()
        towns = names.place_names(rng, int(rng.integers(6, 13)), taken)
        for t, town_name in enumerate(towns):
            suffix = names.TOWN_SUFFIX[int(rng.integers(0, len(names.TOWN_SUFFIX)))]
            n_village = int(rng.integers(4, 13))
            for v, village in enumerate(names.place_names(rng, n_village, taken)):
                county.append(ci)
                code.append(f"{c.code}{100 + t:03d}{200 + v:03d}")
                name.append(f"{village}村")
                town.append(town_name + suffix)
    return Villages(np.array(county, dtype=np.int64), code, name, town)


def _parcels_per_county(rng: np.random.Generator, counties: tuple[County, ...], n: int) -> IntArray:
    weight = np.array([c.polygon.area * (0.4 if c.code in _MOUNTAIN else 1.0) for c in counties])
    weight *= rng.lognormal(0.0, 0.3, weight.size)
    exact = n * weight / weight.sum()
    out: IntArray = np.floor(exact).astype(np.int64)
    out[np.argsort(out - exact)[: n - int(out.sum())]] += 1  # largest remainders
    return out


def _same_county_pairs(picker: RowPicker, county: IntArray, k: int) -> IntArray:
    """k (earlier, later) pairs of free rows, both in one county: a key repeated within a
    county's delivery stays repeated when the file is split by county."""
    pairs: list[IntArray] = []
    while sum(len(p) for p in pairs) < k:
        rows = picker.take(2 * (k - sum(len(p) for p in pairs)))
        rows = rows[np.lexsort((rows, county[rows]))]
        same = county[rows[0::2]] == county[rows[1::2]] if rows.size > 1 else np.zeros(0, bool)
        pair = rows[: 2 * same.size].reshape(-1, 2)
        pairs.append(pair[same])
        picker.taken[pair[~same].ravel()] = False  # unpaired: handed back
        picker.taken[rows[2 * same.size:]] = False
    return np.sort(np.concatenate(pairs)[:k], axis=1)


def make_pbf(rng: np.random.Generator, counties: tuple[County, ...], n: int) -> FarmlandPbf:
    blocks = place_blocks(rng, counties, _parcels_per_county(rng, counties, n))
    cells = Cells.of(blocks)
    villages = make_villages(rng, counties)
    # each block belongs to one village of its county
    by_county = np.bincount(villages.county, minlength=len(counties))
    first = np.concatenate([[0], np.cumsum(by_county)[:-1]])
    pick = np.floor(rng.random(blocks.county.size) * by_county[blocks.county]).astype(np.int64)
    block_village = first[blocks.county] + pick
    county = blocks.county[cells.block]
    corners = parcels.quads(rng, blocks, cells)
    is_quad = rng.random(n) >= 0.3
    picker = RowPicker(rng, n)

    # Integration cases first: they need particular neighbours. Not bad rows.
    left, right = parcels.pick_overlap_pairs(rng, share(n, 1 / 120), picker.free, is_quad,
                                             cells)
    picker.mark(left)
    picker.mark(right)
    parcels.extend_into_right_neighbour(rng, corners, left, blocks, cells)
    mismatch = picker.take(share(n, 1 / 120))

    cut = np.flatnonzero(~is_quad)
    pentagons = parcels.cut_corners(rng, corners[cut])
    invalid = picker.take(share(n, 0.012))
    loop = np.zeros(n, dtype=bool)
    loop[invalid] = True
    geometry = np.empty(n, dtype=object)
    for rows, rings in (
        (np.flatnonzero(is_quad & ~loop), corners[is_quad & ~loop]),
        (cut[~loop[cut]], pentagons[~loop[cut]]),
        (np.flatnonzero(is_quad & loop), parcels.corner_loops(corners[is_quad & loop])),
        (cut[loop[cut]], parcels.corner_loops(pentagons[loop[cut]])),
    ):
        geometry[rows] = parcels.to_polygons(rings, cells.block[rows], blocks, counties)
    area = np.round(ellipsoidal_areas(geometry), 2)

    codes = np.array([c.code for c in counties])
    county_names = np.array([c.name for c in counties])
    village = block_village[cells.block]
    serial = pd.Series(county).groupby(county).cumcount().to_numpy() + 1
    tbbh = pd.Series(village).groupby(village).cumcount().to_numpy() + 1
    land_codes = np.array(list(LAND_CLASSES))
    land_index = rng.choice(land_codes.size, size=n, p=_LAND_SHARE)
    village_code = np.array(villages.code)[village]
    unit_code = names.join(village_code, "0000000")
    owner_region = np.where(rng.random(n) < 0.85, codes[county], rng.choice(codes, n))
    xzqdm, xzqmc = codes[county], county_names[county]
    # A neighbouring county's (valid) code: the parcel lies elsewhere than it says.
    seats = np.array([c.seat for c in counties])
    gap = np.hypot(*(seats[:, None, :] - seats[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(gap, np.inf)
    nearest = np.argmin(gap, axis=1)
    xzqdm[mismatch] = codes[nearest[county[mismatch]]]
    xzqmc[mismatch] = county_names[nearest[county[mismatch]]]
    df = pd.DataFrame(
        {
            "BSM": np.arange(1, n + 1, dtype=np.int32),
            "XZQDM": xzqdm,
            "XZQMC": xzqmc,
            "YJJBNTTBBH": names.join(codes[county], np.char.zfill(serial.astype(str), 7)),
            "TBBH": tbbh.astype(str),
            "DLBM": land_codes[land_index],
            "DLMC": np.array(list(LAND_CLASSES.values()))[land_index],
            "QSXZ": np.where(rng.random(n) < 0.85, "20", "30"),
            "QSDWDM": unit_code,
            "QSDWMC": np.array(villages.name)[village],
            "ZLDWDM": unit_code,
            "ZLDWMC": np.array(villages.name)[village],
            "YJJBNTTBMJ": area,
            "GDDB": np.clip(np.round(rng.normal(9.0, 2.5, n)), 1, 15).astype(np.int32),
            "SJNF": np.full(n, 2025, dtype=np.int32),
            "ZRRMC": names.person_names(rng, n),
            "ZRRZJHM": names.id_numbers(rng, owner_region, 1945, 1995),
            "LXDH": names.mobiles(rng, n),
        }
    )

    bad_domain = picker.take(share(n, 0.015))
    df.loc[bad_domain, "DLBM"] = rng.choice(UNKNOWN_LAND_CLASSES, bad_domain.size)
    # A repeated key: the later row copies an earlier row's number; only the copy is bad.
    pairs = _same_county_pairs(picker, county, share(n, 0.01))
    df.loc[pairs[:, 1], "YJJBNTTBBH"] = df.loc[pairs[:, 0], "YJJBNTTBBH"].to_numpy()

    bad_id = picker.take(share(n, 0.015))
    df.loc[bad_id, "ZRRZJHM"] = names.break_id_check(rng, df.loc[bad_id, "ZRRZJHM"].to_numpy())
    bad_area = picker.take(share(n, 0.02))
    factor = np.where(
        rng.random(bad_area.size) < 0.5,
        rng.uniform(0.5, 0.75, bad_area.size),
        rng.uniform(1.3, 1.8, bad_area.size),
    )
    df.loc[bad_area, "YJJBNTTBMJ"] = np.round(area[bad_area] * factor, 2)

    loadable = np.ones(n, dtype=bool)
    loadable[np.concatenate([invalid, bad_domain, pairs[:, 1]])] = False
    return FarmlandPbf(
        frame=gpd.GeoDataFrame(df, geometry=geometry, crs="EPSG:4490"),
        blocks=blocks,
        cells=cells,
        villages=villages,
        block_village=block_village,
        loadable=loadable,
        clean=picker.free.copy(),
        bad={"geometry_valid": invalid, "domain": bad_domain, "key_unique": pairs[:, 1]},
        # the county mismatches are flagged by validation (county_location) and still load
        warn={"id_card_check": bad_id, "area_agrees": bad_area, "county_location": mismatch},
        planted={"pbf_overlap": left.size, "county_mismatch": mismatch.size},
    )
