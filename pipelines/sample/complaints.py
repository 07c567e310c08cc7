"""12345 热线工单 (complaints): work orders around National Day 2026, geocoded in GCJ-02."""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.read.gcj02 import wgs84_to_gcj02
from pipelines.sample import names
from pipelines.sample.enterprises import industry_keys
from pipelines.sample.farmland import FarmlandPbf
from pipelines.sample.layout import IntArray
from pipelines.sample.names import StrArray
from pipelines.sample.plant import BoolArray, RowPicker, share
from pipelines.sample.region import County, metres_per_degree, points_in
from pipelines.sample.registers import UNKNOWN_COUNTIES, Register
from pipelines.sample.timeline import accepted_at, handling_times
from pipelines.sample.topics import CHANNELS, RESULTS, SATISFACTION, TOPICS


@dataclass
class Hotline:
    frame: pd.DataFrame  # codes as keys; datetimes as pandas Timestamps (NaT when empty)
    loadable: BoolArray
    bad: dict[str, IntArray]  # rule -> rows breaking it
    warn: dict[str, IntArray]


def _weighted(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    return rng.choice([k for k, _ in pairs], n, p=[p for _, p in pairs])


def _places(
    rng: np.random.Generator,
    counties: tuple[County, ...],
    pbf: FarmlandPbf,
    reg: Register,
    topic: IntArray,
) -> pd.DataFrame:
    """County, true lon/lat, address and named entity (or -1) of every work order."""
    n = topic.size
    county = np.full(n, -1, dtype=np.int64)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    village = np.full(n, "", dtype=object)
    entity = np.full(n, -1, dtype=np.int64)
    ent = reg.entities
    industry = industry_keys(ent["industry"].to_numpy())
    parcels = np.flatnonzero(pbf.loadable)
    village_names = (np.array(pbf.villages.town, dtype=object)
                     + np.array(pbf.villages.name, dtype=object))
    for t, spec in enumerate(TOPICS):
        rows = np.flatnonzero(topic == t)
        if spec.place == "entity":
            pool = np.flatnonzero(np.isin(industry, spec.industries))
            who = rng.choice(pool if pool.size else np.arange(len(ent)), rows.size)
            entity[rows] = who
            county[rows] = ent["county"].to_numpy()[who]
            lon[rows] = ent["lon"].to_numpy()[who]
            lat[rows] = ent["lat"].to_numpy()[who]
        elif spec.place == "farmland":
            where = rng.choice(parcels, rows.size)
            centre = shapely.centroid(np.asarray(pbf.frame.geometry.values[where]))
            county[rows] = pbf.county[where]
            lon[rows], lat[rows] = shapely.get_x(centre), shapely.get_y(centre)
            village[rows] = village_names[pbf.block_village[pbf.cells.block[where]]]
    town = np.flatnonzero(county < 0)
    county[town] = rng.choice(len(counties), town.size)
    for ci, c in enumerate(counties):
        rows = town[county[town] == ci]
        if rows.size:
            lon[rows], lat[rows] = points_in(rng, c.polygon, c.seat, 3000.0, rows.size)
    # Callers describe a spot, not a surveyed point: tens of metres off.
    per_lon, per_lat = metres_per_degree(lat)
    lon += rng.normal(0, 25, n) / per_lon
    lat += rng.normal(0, 25, n) / per_lat
    roads = names.join(
        names.pick(rng, names.PLACE_CHARS, n),
        names.pick(rng, names.PLACE_CHARS, n),
        names.pick(rng, names.ROAD_SUFFIX, n),
    ).astype(object)
    full = np.array([c.full_name for c in counties], dtype=object)
    number = rng.integers(1, 400, n).astype(str).astype(object)
    addr = full[county] + roads + number + "号"
    return pd.DataFrame({"county": county, "lon": lon, "lat": lat, "addr": addr,
                         "village": village, "entity": entity})


def _fill(template: str, fields: dict[str, npt.NDArray[np.object_]]) -> npt.NDArray[np.object_]:
    """A str.format template filled from arrays of values, element-wise."""
    n = len(next(iter(fields.values())))
    out = np.full(n, "", dtype=object)
    for literal, name, _, _ in string.Formatter().parse(template):
        out = out + literal
        if name:
            out = out + fields[name]
    return out


def _describe(
    rng: np.random.Generator,
    topic: IntArray,
    places: pd.DataFrame,
    ent: pd.DataFrame,
    zbdw: npt.NDArray[np.object_],
    caller_phone: StrArray,
    caller_id: StrArray,
) -> npt.NDArray[np.object_]:
    """NRMS from the topic's templates; some callers leave their number (or ID) in the text."""
    n = topic.size
    money = rng.integers(5, 400, n) * 100
    months = rng.integers(2, 7, n)
    pick = rng.random(n)
    luck = rng.random(n)
    entity = places["entity"].to_numpy()
    fields = {
        "ent": np.where(entity >= 0, ent["name"].to_numpy(dtype=object)[np.maximum(entity, 0)],
                        ""),
        "addr": places["addr"].to_numpy(dtype=object),
        "village": places["village"].to_numpy(dtype=object),
        "money": money.astype(str).astype(object),
        "months": months.astype(str).astype(object),
        "zbdw": zbdw,
    }
    text = np.full(n, "", dtype=object)
    for t, spec in enumerate(TOPICS):
        choice = np.floor(pick * len(spec.templates)).astype(np.int64)
        for k, template in enumerate(spec.templates):
            rows = np.flatnonzero((topic == t) & (choice == k))
            if rows.size:
                text[rows] = _fill(template, {f: v[rows] for f, v in fields.items()})
    # personal data in free text: real, and the pipeline must mask it
    phone = np.char.replace(caller_phone.astype(str), "+86", "").astype(object)
    text = np.where(luck < 0.12, text + "来电人联系电话" + phone + "。", text)
    with_id = (luck >= 0.12) & (luck < 0.13) & (caller_id != "")
    out: npt.NDArray[np.object_] = np.where(
        with_id, text + "来电人身份证号" + caller_id.astype(object) + "。", text)
    return out


def make_complaints(
    rng: np.random.Generator,
    counties: tuple[County, ...],
    pbf: FarmlandPbf,
    reg: Register,
    n: int,
) -> Hotline:
    slsj = accepted_at(rng, n)
    weight = np.array([t.weight for t in TOPICS])
    topic = rng.choice(len(TOPICS), n, p=weight / weight.sum())
    places = _places(rng, counties, pbf, reg, topic)
    county = places["county"].to_numpy()
    codes = np.array([c.code for c in counties])[county]
    full = np.array([c.full_name for c in counties], dtype=object)
    departments = np.array([t.department for t in TOPICS], dtype=object)
    zbdw = full[county] + departments[topic]

    # Callers: some ring more than once, under the same number.
    pool = max(1, int(0.85 * n))
    who = rng.integers(0, pool, n)
    names_ = names.person_names(rng, pool)
    polite = np.char.add(
        pd.Series(names_).str[0].to_numpy(dtype=str), rng.choice(["先生", "女士"], pool)
    )
    caller_name = np.where(rng.random(pool) < 0.2, polite, names_)[who]
    phone = names.mobiles(rng, pool)
    caller_phone = np.where(rng.random(pool) < 0.15, np.char.add("+86", phone), phone)[who]
    ids = names.id_numbers(rng, rng.choice(codes, pool), 1950, 2006)
    caller_id = np.where(rng.random(pool) < 0.35, "", ids)[who]

    ent = reg.entities
    e = places["entity"].to_numpy()
    mention = rng.choice(3, n, p=[0.55, 0.3, 0.15])  # name and code, name only, code only
    named = e >= 0
    sjqymc = np.where(named & (mention < 2), ent["name"].to_numpy()[np.maximum(e, 0)], "")
    sjqyxydm = np.where(named & (mention != 1), ent["uscc"].to_numpy()[np.maximum(e, 0)], "")
    inherited = named & (mention != 1) & ent["uscc_broken"].to_numpy()[np.maximum(e, 0)]
    lon, lat = wgs84_to_gcj02(places["lon"].to_numpy(), places["lat"].to_numpy())
    geocoded = rng.random(n) >= 0.1
    times = handling_times(rng, slsj)
    closed = times["BJSJ"].notna().to_numpy()
    day = slsj.strftime("%Y%m%d")
    serial = pd.Series(np.arange(n)).groupby(day).cumcount().to_numpy() + 1
    type_pool = np.array([t.types + ("",) * (2 - len(t.types)) for t in TOPICS], dtype=object)
    type_count = np.array([len(t.types) for t in TOPICS])
    gdlx = type_pool[topic, np.floor(rng.random(n) * type_count[topic]).astype(np.int64)]
    classes = np.array([t.classes for t in TOPICS], dtype=object)
    df = pd.DataFrame(
        {
            "GDBH": np.asarray(day, dtype=object)
            + np.char.zfill(serial.astype(str), 5).astype(object),
            "SLSJ": slsj,
            "GDLY": _weighted(rng, CHANNELS, n),
            "GDLX": gdlx,
            "NRMS": _describe(rng, topic, places, ent, zbdw, caller_phone, caller_id),
            "SQDZ": np.where(places["village"] != "", places["village"], places["addr"]),
            "JD": np.where(geocoded, np.round(lon, 6), np.nan),
            "WD": np.where(geocoded, np.round(lat, 6), np.nan),
            "XZQDM": codes,
            "ZBDW": zbdw,
            **{k: times[k] for k in times.columns},
            "BLJG": np.where(closed, _weighted(rng, RESULTS, n), ""),
            "MYD": np.where(closed, _weighted(rng, SATISFACTION, n), ""),
            "SJQYMC": sjqymc,
            "SJQYXYDM": sjqyxydm,
            "YWFL1": classes[topic, 0],
            "YWFL2": classes[topic, 1],
            "YWFL3": classes[topic, 2],
            "LDRXM": caller_name,
            "LDRDH": caller_phone,
            "LDRZJHM": caller_id,
        }
    )
    return _plant(rng, df, inherited)


def _plant(rng: np.random.Generator, df: pd.DataFrame, inherited_mask: BoolArray) -> Hotline:
    n = len(df)
    picker = RowPicker(rng, n)
    # Entities whose register code is already wrong bring their warning with them.
    code = df["SJQYXYDM"].to_numpy()
    inherited = np.flatnonzero(inherited_mask)
    picker.mark(inherited)
    typo = picker.take(max(0, share(n, 0.01) - inherited.size), eligible=code != "")
    df.loc[typo, "SJQYXYDM"] = names.break_uscc_check(rng, code[typo].astype(str))
    bad_id = picker.take(share(n, 0.015), eligible=df["LDRZJHM"].to_numpy() != "")
    df.loc[bad_id, "LDRZJHM"] = names.break_id_check(rng, df.loc[bad_id, "LDRZJHM"].to_numpy())

    bad_county = picker.take(share(n, 0.015))
    df.loc[bad_county, "XZQDM"] = rng.choice(UNKNOWN_COUNTIES, bad_county.size)
    # Out of order: closed before it was dispatched, or "contacted" before dispatch.
    k = share(n, 0.02)
    closed_early = picker.take(k // 2, eligible=df["BJSJ"].notna().to_numpy())
    df.loc[closed_early, "BJSJ"] = df.loc[closed_early, "PDSJ"] - pd.to_timedelta(
        rng.integers(3600, 2 * 86400, closed_early.size), "s"
    )
    contact_early = picker.take(k - k // 2, eligible=df["SCLXSJ"].notna().to_numpy())
    df.loc[contact_early, "SCLXSJ"] = df.loc[contact_early, "PDSJ"] - pd.to_timedelta(
        rng.integers(600, 5 * 3600, contact_early.size), "s"
    )

    loadable = np.ones(n, dtype=bool)
    loadable[np.concatenate([bad_county, closed_early, contact_early])] = False
    return Hotline(
        frame=df,
        loadable=loadable,
        bad={"domain": bad_county,
             "dates_in_order": np.sort(np.concatenate([closed_early, contact_early]))},
        warn={"uscc_check": np.sort(np.concatenate([inherited, typo])),
              "id_card_check": bad_id},
    )
