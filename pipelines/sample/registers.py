"""证照 (licenses): the licence register of market entities, some of them on farmland."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from pipelines.sample import names
from pipelines.sample.enterprises import (
    ENTITY_TYPES,
    ON_FARMLAND,
    draw_industries,
    entity_name,
    permits_for,
)
from pipelines.sample.farmland import FarmlandPbf
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
    entities: pd.DataFrame  # one row per entity: uscc, name, county, true lon/lat
    loadable: BoolArray
    bad: dict[str, int]
    warn: dict[str, int]
    on_pbf: int  # loadable licences lying inside a loadable PBF parcel


def _entities(
    rng: np.random.Generator, counties: tuple[County, ...], pbf: FarmlandPbf, n: int
) -> pd.DataFrame:
    """Entities and their licences until exactly n licences; ~3 % of them on farmland."""
    rows: list[dict[str, object]] = []
    total, n_on = 0, round(0.03 * n)
    hosts = rng.permutation(np.flatnonzero(pbf.clean))
    geoms = pbf.frame.geometry.values
    while total < n_on:  # processing plants and quarries on permanent basic farmland
        parcel = int(hosts[len(rows)])
        industry = draw_industries(rng, 1, ON_FARMLAND)[0]
        licences = permits_for(rng, industry)[: n_on - total]
        spot = shapely.point_on_surface(geoms[parcel])
        rows.append(
            {
                "county": int(pbf.blocks.county[pbf.cells.block[parcel]]),
                "industry": industry,
                "licences": licences,
                "lon": spot.x,
                "lat": spot.y,
                "village": int(pbf.block_village[pbf.cells.block[parcel]]),
            }
        )
        total += len(licences)
    weight = np.array([_URBAN.get(c.code[:4], 1.0) for c in counties])
    while total < n:
        home = int(rng.choice(len(counties), p=weight / weight.sum()))
        industry = draw_industries(rng, 1)[0]
        licences = permits_for(rng, industry)[: n - total]
        rows.append(
            {
                "county": home,
                "industry": industry,
                "licences": licences,
                "lon": np.nan,
                "lat": np.nan,
                "village": -1,
            }
        )
        total += len(licences)
    ent = pd.DataFrame(rows)
    # Everyone else sits near the county seat (co-operatives further out), off the farmland.
    avoid = pbf.blocks.footprints(counties, margin_m=30.0)
    kind = np.array([i.kind for i in ent["industry"]])
    for ci, county in enumerate(counties):
        for k, sigma in (("1", 4000.0), ("2", 3000.0), ("3", 12000.0)):
            sel = np.flatnonzero((ent["county"].to_numpy() == ci) & (kind == k) & ent["lon"].isna())
            if sel.size:
                lon, lat = points_in(rng, county.polygon, county.seat, sigma, sel.size, avoid)
                ent.loc[sel, "lon"], ent.loc[sel, "lat"] = lon, lat
    return ent.iloc[rng.permutation(len(ent))].reset_index(drop=True)


def _licence_number(kind: str, uscc: str, code: str, serial: int, issued: dt.date) -> str:
    if kind == "营业执照":
        return uscc  # the business licence number is the credit code itself
    if kind == "食品经营许可证":
        return f"JY2{code}{serial:06d}{serial % 10}"
    if kind == "排污许可证":
        return f"{uscc}001{'VPUQ'[serial % 4]}"
    return f"C{code}{issued:%Y%m}{serial:010d}"  # 采矿许可证


def make_licenses(
    rng: np.random.Generator, counties: tuple[County, ...], pbf: FarmlandPbf, scale: int
) -> Register:
    n = 800 * scale
    ent = _entities(rng, counties, pbf, n)
    m = len(ent)
    county_of = [counties[c] for c in ent["county"].tolist()]
    codes = np.array([c.code for c in county_of])
    kind = np.array([i.kind for i in ent["industry"]])
    ent["uscc"] = names.usccs(rng, kind, codes)
    ent["boss"] = names.person_names(rng, m)
    taken: set[str] = set()
    entity_names = []
    for ind, county, boss in zip(ent["industry"], county_of, ent["boss"], strict=True):
        name = entity_name(rng, ind, county, boss)
        while name in taken:  # a name is registered once per jurisdiction
            name = entity_name(rng, ind, county, boss)
        taken.add(name)
        entity_names.append(name)
    ent["name"] = entity_names
    age_years = np.minimum(rng.exponential(6.0, m), 28.0)
    founded = [AS_OF - dt.timedelta(days=int(365.25 * a) + 1) for a in age_years]
    status = rng.choice([s for s, _ in _STATUS], m, p=[p for _, p in _STATUS])
    towns = names.join(
        names.pick(rng, names.PLACE_CHARS, m),
        names.pick(rng, names.PLACE_CHARS, m),
        names.pick(rng, names.ROAD_SUFFIX, m),
        rng.integers(1, 300, m).astype(str),
        "号",
    )
    address = [
        f"海南省{c.full_name}{pbf.villages.town[v]}{pbf.villages.name[v]}"
        if v >= 0
        else f"海南省{c.full_name}{t}"
        for c, v, t in zip(county_of, ent["village"].tolist(), towns.tolist(), strict=True)
    ]
    ent["grid"] = rng.random(m) < 0.15  # who wrote the coordinate system down

    records: list[dict[str, object]] = []
    for e, row in enumerate(ent.to_dict("records")):
        for kind_name in row["licences"]:
            serial = len(records) + 1
            if kind_name == "营业执照":
                start = founded[e]
                end = start.replace(
                    year=start.year + int(rng.choice([20, 30, 50])), day=min(start.day, 28)
                )
            else:
                start = max(founded[e], dt.date(2018, 1, 1))
                start += dt.timedelta(days=int(rng.integers(0, max(1, (AS_OF - start).days))))
                years = int(rng.integers(3, 11)) if kind_name == "采矿许可证" else 5
                end = start.replace(year=start.year + years, day=min(start.day, 28))
            records.append(
                {
                    "TYSHXYDM": row["uscc"],
                    "ZTMC": row["name"],
                    "ZTLX": ENTITY_TYPES[row["industry"].kind][
                        int(rng.integers(0, len(ENTITY_TYPES[row["industry"].kind])))
                    ],
                    "FDDBR": row["boss"],
                    "CLRQ": founded[e],
                    "DJJG": f"{county_of[e].full_name}市场监督管理局",
                    "JYFW": row["industry"].scope,
                    "ZS": address[e],
                    "XZQDM": codes[e],
                    "JD": round(float(row["lon"]), 6),
                    "WD": round(float(row["lat"]), 6),
                    "ZBXT": "CGCS2000" if row["grid"] else "",
                    "ZZLX": kind_name,
                    "ZZBH": _licence_number(kind_name, row["uscc"], codes[e], serial, start),
                    "YXQQ": start,
                    "YXQZ": end,
                    "DJZT": status[e],
                    "_entity": e,
                }
            )
    return _plant(rng, pbf, ent, pd.DataFrame(records))


def _plant(
    rng: np.random.Generator, pbf: FarmlandPbf, ent: pd.DataFrame, df: pd.DataFrame
) -> Register:
    n = len(df)
    entity = df.pop("_entity").to_numpy()
    on_farmland = ent["village"].to_numpy()[entity] >= 0
    picker = RowPicker(rng, n)
    picker.mark(np.flatnonzero(on_farmland))  # planted integration cases stay clean
    # A wrong check character sits in the register itself, so every licence of the entity has it.
    warn_rows: list[int] = []
    for e in rng.permutation(len(ent)).tolist():
        rows = np.flatnonzero(entity == e)
        if len(warn_rows) >= share(n, 0.02):
            break
        if not picker.taken[rows].any():
            warn_rows.extend(rows.tolist())
            picker.mark(rows)
            ent.loc[e, "uscc"] = names.break_uscc_check(rng, np.array([ent.loc[e, "uscc"]]))[0]
            df.loc[rows, "TYSHXYDM"] = ent.loc[e, "uscc"]
            df.loc[rows[df.loc[rows, "ZZLX"] == "营业执照"], "ZZBH"] = ent.loc[e, "uscc"]
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
        bad={"domain": bad_county.size, "geometry_in_region": far.size},
        warn={"uscc_check": len(warn_rows)},
        on_pbf=int(np.unique(hit).size),
    )
