"""证照 (licenses): the licence register of market entities, some of them on farmland."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.sample import names
from pipelines.sample.enterprises import (
    ENTITY_TYPES,
    INDUSTRIES,
    ON_FARMLAND,
    draw_industries,
    entity_names,
    industry_kinds,
    permits_for,
)
from pipelines.sample.farmland import FarmlandPbf
from pipelines.sample.layout import IntArray
from pipelines.sample.plant import BoolArray, RowPicker, share
from pipelines.sample.region import County, points_in

UNKNOWN_COUNTIES = ("469099", "469031", "460199", "460300")
AS_OF = dt.date(2026, 11, 1)  # the register's extraction date
_STATUS = (("存续", 0.68), ("在业", 0.24), ("注销", 0.04), ("吊销", 0.03), ("迁出", 0.01))
# Hotspots of registrations: the two big cities, then the larger county towns.
_URBAN = {"4601": 3.0, "4602": 2.5, "4604": 1.5}


@dataclass
class Register:
    frame: pd.DataFrame  # one row per licence, in the contract's field order
    entities: pd.DataFrame  # one row per entity: uscc, name, county, industry, true lon/lat
    loadable: BoolArray
    bad: dict[str, IntArray]  # rule -> rows breaking it
    warn: dict[str, IntArray]
    on_pbf: int  # loadable licences lying inside a loadable PBF parcel


def _until(licences: IntArray, total: int) -> tuple[int, IntArray]:
    """How many of these entities give `total` licences, and each one's count (the last
    entity's cut so the sum is exact)."""
    upto = np.cumsum(licences)
    m = int(np.searchsorted(upto, total)) + 1 if total else 0
    counts = licences[:m].copy()
    if m:
        counts[-1] -= int(upto[m - 1]) - total
    return m, counts


def _entities(
    rng: np.random.Generator, counties: tuple[County, ...], pbf: FarmlandPbf, n: int
) -> tuple[pd.DataFrame, npt.NDArray[np.object_]]:
    """Entities and their licences until exactly n licences; ~3 % of them on farmland.
    Returns the entities and their (m, 3) licence types ("" where none)."""
    n_on = round(0.03 * n)
    # processing plants and quarries on permanent basic farmland
    industry_on = draw_industries(rng, n_on, ON_FARMLAND)
    permits_on = permits_for(rng, industry_on)
    m_on, count_on = _until((permits_on != "").sum(axis=1), n_on)
    hosts = rng.permutation(np.flatnonzero(pbf.clean))[:m_on]
    spot = shapely.point_on_surface(np.asarray(pbf.frame.geometry.values[hosts]))
    weight = np.array([_URBAN.get(c.code[:4], 1.0) for c in counties])
    home = rng.choice(len(counties), n - n_on, p=weight / weight.sum())
    industry = draw_industries(rng, n - n_on)
    permits = permits_for(rng, industry)
    m, count = _until((permits != "").sum(axis=1), n - n_on)
    ent = pd.DataFrame(
        {
            "county": np.concatenate([pbf.county[hosts], home[:m]]).astype(np.int64),
            "industry": np.concatenate([industry_on[:m_on], industry[:m]]),
            "licences": np.concatenate([count_on, count]),
            "lon": np.concatenate([shapely.get_x(spot), np.full(m, np.nan)]),
            "lat": np.concatenate([shapely.get_y(spot), np.full(m, np.nan)]),
            "village": np.concatenate([pbf.block_village[pbf.cells.block[hosts]],
                                       np.full(m, -1)]).astype(np.int64),
        }
    )
    types = np.concatenate([permits_on[:m_on], permits[:m]])
    # Everyone else sits near the county seat (co-operatives further out), off the farmland.
    avoid = pbf.blocks.footprints(counties, margin_m=30.0)
    shapely.prepare(avoid)
    kind = industry_kinds(ent["industry"].to_numpy())
    county_of, placed = ent["county"].to_numpy(), ent["lon"].notna().to_numpy()
    for ci, county in enumerate(counties):
        for k, sigma in (("1", 4000.0), ("2", 3000.0), ("3", 12000.0)):
            sel = np.flatnonzero((county_of == ci) & (kind == k) & ~placed)
            if sel.size:
                lon, lat = points_in(rng, county.polygon, county.seat, sigma, sel.size, avoid)
                ent.loc[sel, "lon"], ent.loc[sel, "lat"] = lon, lat
    order = rng.permutation(len(ent))
    return ent.iloc[order].reset_index(drop=True), types[order]


def _years_later(day: npt.NDArray[np.datetime64], years: IntArray) -> npt.NDArray[np.datetime64]:
    """The same month `years` later, on the same day (the 28th at most)."""
    month = day.astype("datetime64[M]")
    dom = np.minimum((day - month.astype("datetime64[D]")).astype(np.int64), 27)
    later: npt.NDArray[np.datetime64] = (month + 12 * years.astype(np.int64)).astype(
        "datetime64[D]") + dom
    return later


def make_licenses(
    rng: np.random.Generator, counties: tuple[County, ...], pbf: FarmlandPbf, n: int
) -> Register:
    ent, types = _entities(rng, counties, pbf, n)
    m = len(ent)
    county_of = ent["county"].to_numpy()
    code_of = np.array([c.code for c in counties])
    codes = code_of[county_of]
    industry = ent["industry"].to_numpy()
    ent["uscc"] = names.usccs(rng, industry_kinds(industry), codes)
    ent["boss"] = names.person_names(rng, m)
    ent["name"] = entity_names(rng, industry, counties, county_of, ent["boss"].to_numpy())
    age_years = np.minimum(rng.exponential(6.0, m), 28.0)
    as_of = np.datetime64(AS_OF, "D")
    founded = as_of - ((365.25 * age_years).astype(np.int64) + 1)
    status = rng.choice([s for s, _ in _STATUS], m, p=[p for _, p in _STATUS])
    towns = names.join(
        names.pick(rng, names.PLACE_CHARS, m),
        names.pick(rng, names.PLACE_CHARS, m),
        names.pick(rng, names.ROAD_SUFFIX, m),
        rng.integers(1, 300, m).astype(str),
        "号",
    ).astype(object)
    village = ent["village"].to_numpy()
    in_village = (np.array(pbf.villages.town, dtype=object)
                  + np.array(pbf.villages.name, dtype=object))[np.maximum(village, 0)]
    full = np.array([c.full_name for c in counties], dtype=object)[county_of]
    address = "海南省" + full + np.where(village >= 0, in_village, towns)
    grid = rng.random(m) < 0.15  # who wrote the coordinate system down

    # One row per licence, entity by entity, in the order drawn.
    entity = np.repeat(np.arange(m), ent["licences"].to_numpy())
    slot = np.arange(entity.size) - np.repeat(np.cumsum(ent["licences"].to_numpy())
                                              - ent["licences"].to_numpy(), ent["licences"])
    kind_name = types[entity, slot]
    n = entity.size
    serial = np.arange(1, n + 1)
    business = kind_name == "营业执照"
    mining = kind_name == "采矿许可证"
    permit_start = np.maximum(founded[entity], np.datetime64("2018-01-01"))
    span = np.maximum(1, (as_of - permit_start).astype(np.int64))
    permit_start = permit_start + np.floor(rng.random(n) * span).astype(np.int64)
    start = np.where(business, founded[entity], permit_start)
    years = np.where(business, rng.choice([20, 30, 50], n),
                     np.where(mining, rng.integers(3, 11, n), 5))
    end = _years_later(start, years)
    kinds = industry_kinds(industry)[entity]
    ztlx_pool = np.array([ENTITY_TYPES[k] + ("",) * (4 - len(ENTITY_TYPES[k]))
                          for k in ("1", "2", "3")], dtype=object)
    ztlx_count = np.array([len(ENTITY_TYPES[k]) for k in ("1", "2", "3")])
    kind_index = kinds.astype(np.int64) - 1
    ztlx = ztlx_pool[kind_index, np.floor(rng.random(n) * ztlx_count[kind_index]).astype(int)]
    uscc = ent["uscc"].to_numpy(dtype=object)[entity]
    code = codes[entity].astype(object)
    serial_text = serial.astype(str).astype(object)
    zzbh = np.select(
        [business, kind_name == "食品经营许可证", kind_name == "排污许可证"],
        [uscc,
         "JY2" + code + np.char.zfill(serial.astype(str), 6).astype(object)
         + (serial % 10).astype(str).astype(object),
         uscc + "001" + np.array(list("VPUQ"), dtype=object)[serial % 4]],
        "C" + code + np.char.replace(np.datetime_as_string(start, unit="M"), "-", "").astype(
            object) + np.char.zfill(serial_text.astype(str), 10).astype(object),
    )
    df = pd.DataFrame(
        {
            "TYSHXYDM": uscc,
            "ZTMC": ent["name"].to_numpy(dtype=object)[entity],
            "ZTLX": ztlx,
            "FDDBR": ent["boss"].to_numpy(dtype=object)[entity],
            "CLRQ": founded[entity],
            "DJJG": full[entity] + "市场监督管理局",
            "JYFW": np.array([i.scope for i in INDUSTRIES], dtype=object)[industry[entity]],
            "ZS": address[entity],
            "XZQDM": code,
            "JD": np.round(ent["lon"].to_numpy(float), 6)[entity],
            "WD": np.round(ent["lat"].to_numpy(float), 6)[entity],
            "ZBXT": np.where(grid, "CGCS2000", "")[entity],
            "ZZLX": kind_name,
            "ZZBH": zzbh,
            "YXQQ": start,
            "YXQZ": end,
            "DJZT": status[entity],
        }
    )
    return _plant(rng, pbf, ent, df, entity)


def _plant(
    rng: np.random.Generator, pbf: FarmlandPbf, ent: pd.DataFrame, df: pd.DataFrame,
    entity: IntArray,
) -> Register:
    n = len(df)
    on_farmland = ent["village"].to_numpy()[entity] >= 0
    picker = RowPicker(rng, n)
    picker.mark(np.flatnonzero(on_farmland))  # planted integration cases stay clean
    # A wrong check character sits in the register itself, so every licence of the entity
    # has it: whole entities, in random order, until share(n, 0.02) rows carry it.
    counts = ent["licences"].to_numpy()
    order = rng.permutation(len(ent))
    clean = np.bincount(entity, weights=picker.taken, minlength=len(ent)) == 0
    candidates = order[clean[order]]
    before = np.cumsum(counts[candidates]) - counts[candidates]
    broken = np.sort(candidates[before < share(n, 0.02)])
    ent["uscc_broken"] = False
    ent.loc[broken, "uscc_broken"] = True
    ent.loc[broken, "uscc"] = names.break_uscc_check(rng, ent.loc[broken, "uscc"].to_numpy(str))
    warn_rows = np.flatnonzero(np.isin(entity, broken))
    picker.mark(warn_rows)
    df.loc[warn_rows, "TYSHXYDM"] = ent["uscc"].to_numpy()[entity[warn_rows]]
    business = warn_rows[df.loc[warn_rows, "ZZLX"].to_numpy() == "营业执照"]
    df.loc[business, "ZZBH"] = df.loc[business, "TYSHXYDM"].to_numpy()
    bad_county = picker.take(share(n, 0.015))
    df.loc[bad_county, "XZQDM"] = rng.choice(UNKNOWN_COUNTIES, bad_county.size)
    # Far outside: lon and lat swapped on entry, or an empty coordinate stored as 0, 0.
    far = picker.take(share(n, 0.015))
    swap = rng.random(far.size) < 0.6
    lon, lat = df.loc[far, "JD"].to_numpy(), df.loc[far, "WD"].to_numpy()
    df.loc[far, "JD"] = np.where(swap, lat, 0.0)
    df.loc[far, "WD"] = np.where(swap, lon, 0.0)

    loadable = np.ones(n, dtype=bool)
    loadable[np.concatenate([bad_county, far])] = False
    parcels = pbf.frame.geometry.values[pbf.loadable]
    points = shapely.points(df["JD"].to_numpy(float), df["WD"].to_numpy(float))
    hit, _ = shapely.STRtree(parcels).query(points[loadable], predicate="within")
    return Register(
        frame=df,
        entities=ent,
        loadable=loadable,
        bad={"domain": bad_county, "geometry_in_region": far},
        warn={"uscc_check": warn_rows},
        on_pbf=int(np.unique(hit).size),
    )
