"""12345 热线工单 (complaints): work orders around National Day 2026, geocoded in GCJ-02."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from pipelines.read.gcj02 import wgs84_to_gcj02
from pipelines.sample import names
from pipelines.sample.farmland import FarmlandPbf
from pipelines.sample.plant import BoolArray, RowPicker, share
from pipelines.sample.region import County, metres_per_degree, points_in
from pipelines.sample.registers import UNKNOWN_COUNTIES, Register
from pipelines.sample.timeline import accepted_at, handling_times
from pipelines.sample.topics import CHANNELS, RESULTS, SATISFACTION, TOPICS
from pipelines.validate.codes import is_valid_uscc


@dataclass
class Hotline:
    frame: pd.DataFrame  # codes as keys; datetimes as pandas Timestamps (NaT when empty)
    loadable: BoolArray
    bad: dict[str, int]
    warn: dict[str, int]


def _weighted(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    return rng.choice([k for k, _ in pairs], n, p=[p for _, p in pairs])


def _places(
    rng: np.random.Generator,
    counties: tuple[County, ...],
    pbf: FarmlandPbf,
    reg: Register,
    topic: np.ndarray,
) -> pd.DataFrame:
    """County, true lon/lat, address and named entity (or -1) of every work order."""
    n = topic.size
    out = pd.DataFrame(
        {"county": -1, "lon": np.nan, "lat": np.nan, "addr": "", "village": "", "entity": -1},
        index=range(n),
    )
    ent = reg.entities
    industry = np.array([i.key for i in ent["industry"]])
    parcels = np.flatnonzero(pbf.loadable)
    for t, spec in enumerate(TOPICS):
        rows = np.flatnonzero(topic == t)
        if spec.place == "entity":
            pool = np.flatnonzero(np.isin(industry, spec.industries))
            who = rng.choice(pool if pool.size else np.arange(len(ent)), rows.size)
            out.loc[rows, "entity"] = who
            out.loc[rows, "county"] = ent["county"].to_numpy()[who]
            out.loc[rows, "lon"] = ent["lon"].to_numpy()[who]
            out.loc[rows, "lat"] = ent["lat"].to_numpy()[who]
        elif spec.place == "farmland":
            where = rng.choice(parcels, rows.size)
            centre = shapely.centroid(np.asarray(pbf.frame.geometry.values[where]))
            village = pbf.block_village[pbf.cells.block[where]]
            out.loc[rows, "county"] = pbf.blocks.county[pbf.cells.block[where]]
            out.loc[rows, "lon"] = [p.x for p in centre]
            out.loc[rows, "lat"] = [p.y for p in centre]
            out.loc[rows, "village"] = [
                pbf.villages.town[v] + pbf.villages.name[v] for v in village.tolist()
            ]
    town = np.flatnonzero(out["county"].to_numpy() < 0)
    out.loc[town, "county"] = rng.choice(len(counties), town.size)
    for ci, county in enumerate(counties):
        rows = town[out["county"].to_numpy()[town] == ci]
        if rows.size:
            out.loc[rows, "lon"], out.loc[rows, "lat"] = points_in(
                rng, county.polygon, county.seat, 3000.0, rows.size
            )
    # Callers describe a spot, not a surveyed point: tens of metres off.
    per_lon, per_lat = metres_per_degree(out["lat"].to_numpy())
    out["lon"] += rng.normal(0, 25, n) / per_lon
    out["lat"] += rng.normal(0, 25, n) / per_lat
    roads = names.join(
        names.pick(rng, names.PLACE_CHARS, n),
        names.pick(rng, names.PLACE_CHARS, n),
        names.pick(rng, names.ROAD_SUFFIX, n),
    )
    out["addr"] = [
        f"{counties[c].full_name}{r}{k}号"
        for c, r, k in zip(
            out["county"], roads.tolist(), rng.integers(1, 400, n).tolist(), strict=True
        )
    ]
    return out


def _describe(
    rng: np.random.Generator,
    topic: np.ndarray,
    places: pd.DataFrame,
    ent: pd.DataFrame,
    zbdw: list[str],
    caller_phone: np.ndarray,
    caller_id: np.ndarray,
) -> list[str]:
    """NRMS from the topic's templates; some callers leave their number (or ID) in the text."""
    n = topic.size
    money = rng.integers(5, 400, n) * 100
    months = rng.integers(2, 7, n)
    pick = rng.random(n)
    luck = rng.random(n)
    ent_name = ent["name"].to_numpy()
    entity = places["entity"].to_numpy()
    addr, village = places["addr"].tolist(), places["village"].tolist()
    text = []
    for i, t in enumerate(topic.tolist()):
        templates = TOPICS[t].templates
        line = templates[int(pick[i] * len(templates))].format(
            ent=ent_name[entity[i]] if entity[i] >= 0 else "",
            addr=addr[i],
            village=village[i],
            money=int(money[i]),
            months=int(months[i]),
            zbdw=zbdw[i],
        )
        if luck[i] < 0.12:  # personal data in free text: real, and the pipeline must mask it
            line += f"来电人联系电话{caller_phone[i].removeprefix('+86')}。"
        elif luck[i] < 0.13 and caller_id[i]:
            line += f"来电人身份证号{caller_id[i]}。"
        text.append(line)
    return text


def make_complaints(
    rng: np.random.Generator,
    counties: tuple[County, ...],
    pbf: FarmlandPbf,
    reg: Register,
    scale: int,
) -> Hotline:
    n = 2000 * scale
    slsj = accepted_at(rng, n)
    weight = np.array([t.weight for t in TOPICS])
    topic = rng.choice(len(TOPICS), n, p=weight / weight.sum())
    places = _places(rng, counties, pbf, reg, topic)
    county = places["county"].to_numpy()
    codes = np.array([c.code for c in counties])[county]
    zbdw = [
        counties[c].full_name + TOPICS[t].department for c, t in zip(county, topic, strict=True)
    ]

    # Callers: some ring more than once, under the same number.
    pool = max(1, int(0.85 * n))
    who = rng.integers(0, pool, n)
    names_ = names.person_names(rng, pool)
    polite = np.char.add(
        np.array([s[0] for s in names_.tolist()]), rng.choice(["先生", "女士"], pool)
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
    lon, lat = wgs84_to_gcj02(places["lon"].to_numpy(), places["lat"].to_numpy())
    geocoded = rng.random(n) >= 0.1
    times = handling_times(rng, slsj)
    closed = times["BJSJ"].notna().to_numpy()
    day = slsj.strftime("%Y%m%d")
    serial = pd.Series(np.arange(n)).groupby(day).cumcount().to_numpy() + 1
    df = pd.DataFrame(
        {
            "GDBH": [f"{d}{s:05d}" for d, s in zip(day, serial, strict=True)],
            "SLSJ": slsj,
            "GDLY": _weighted(rng, CHANNELS, n),
            "GDLX": [TOPICS[t].types[int(rng.integers(0, len(TOPICS[t].types)))] for t in topic],
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
            "YWFL1": [TOPICS[t].classes[0] for t in topic],
            "YWFL2": [TOPICS[t].classes[1] for t in topic],
            "YWFL3": [TOPICS[t].classes[2] for t in topic],
            "LDRXM": caller_name,
            "LDRDH": caller_phone,
            "LDRZJHM": caller_id,
        }
    )
    return _plant(rng, df)


def _plant(rng: np.random.Generator, df: pd.DataFrame) -> Hotline:
    n = len(df)
    picker = RowPicker(rng, n)
    # Entities whose register code is already wrong bring their warning with them.
    code = df["SJQYXYDM"].to_numpy()
    inherited = np.flatnonzero([bool(c) and not is_valid_uscc(c) for c in code])
    picker.mark(inherited)
    typo = picker.take(max(0, share(n, 0.01) - inherited.size), eligible=code != "")
    df.loc[typo, "SJQYXYDM"] = names.break_uscc_check(rng, code[typo])
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
        bad={"domain": bad_county.size, "dates_in_order": k},
        warn={"uscc_check": inherited.size + typo.size, "id_card_check": bad_id.size},
    )
