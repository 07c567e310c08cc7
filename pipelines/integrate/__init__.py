"""Integration: the views no single department can produce, built per county partition.

A partition is one county's part of one family of layers (`FAMILIES`: the farmland overlay,
licences on farmland, enriched work orders), keyed `<county>/<family>`; `integrate_part` builds
one, `finish` merges them and adds the views that span counties. `fingerprints` says what each
part was built from, so a run rebuilds only the parts whose inputs changed (`pipelines.runner`
reuses the others from the published run). `integrate_unpartitioned` builds everything at once:
what the partitioned build must reproduce exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.contracts import LAYER_ORDER, all_layers, load_region
from pipelines.integrate.calendar import local_naive
from pipelines.integrate.farmland import farmland_base_map, farmland_conflicts
from pipelines.integrate.inputs import (
    COUNTY,
    PARCELS_READ,
    ROW_IDENTITY,
    UNLOCATED,
    ZONE_READ,
    Inputs,
    Zone,
    geoms_of,
    load_inputs,
)
from pipelines.integrate.planar import interior_overlaps
from pipelines.integrate.registers import (
    RESPONSE_RESULTS,
    complaints_enriched,
    licenses_on_farmland,
    response_results,
)
from pipelines.integrate.summary import enterprise_profile, region_summary
from pipelines.integrate.workdays import (
    ResponseRule,
    WorkCalendar,
    response_changes,
    row_intervals,
)
from pipelines.integrate.workdays import judged_alike as judged_between

LAYERS = LAYER_ORDER
PARTITIONED = tuple(layer.layer for layer in all_layers() if layer.partitioned)

__all__ = ["FAMILIES", "LAYERS", "UNLOCATED", "Inputs", "load_inputs", "partitions", "part_key",
           "part_keys", "split_key", "fingerprints", "part_prints", "PartPrint", "judged_alike",
           "register_digest", "orders_prints",
           "still_alike", "integrate_part", "build_part", "ROW_COLUMNS", "ENRICHED",
           "integrate_county", "integrate_unpartitioned", "finish", "merged_layer"]

# The partitioned layers in families built together, each with what it reads: the farmland
# overlay reads the zone's parcels and projects; licences on farmland the county's licences
# and the parcels they may lie on; enriched work orders the county's orders, every licence,
# the parcels they may lie on, and the moment deadlines are judged at (see `fingerprints`,
# `judged_alike`). A change rebuilds only the families that read it.
FAMILIES: dict[str, tuple[str, ...]] = {
    "farmland": ("farmland_base_map", "farmland_conflicts"),
    "licences": ("licenses_on_farmland",),
    "complaints": ("complaints_enriched",),
}
if sorted(sum(FAMILIES.values(), ())) != sorted(PARTITIONED):
    raise RuntimeError("every partitioned layer contract must belong to one family in FAMILIES")


def partitions(inputs: Inputs) -> list[str]:
    codes = list(inputs.counties[COUNTY])
    if inputs.needs_unlocated():
        codes.append(UNLOCATED)
    return codes


def part_key(code: str, family: str) -> str:
    return f"{code}/{family}"


def split_key(key: str) -> tuple[str, str]:
    """(county code or UNLOCATED, family) of a partition key."""
    code, _, family = key.rpartition("/")
    if not code or family not in FAMILIES:
        raise ValueError(f"not a partition key: {key!r}")
    return code, family


def part_keys(codes: Iterable[str]) -> list[str]:
    return [part_key(c, f) for c in codes for f in FAMILIES]


def _family(inputs: Inputs, own: Inputs, zone: Zone, family: str,
            as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """One family of the layers of `own` rows and of the land of `zone`. Farmland is read for
    the whole zone and points are matched against every parcel, so a partition sees its
    neighbours' parcels where they reach across the county line."""
    if family == "farmland":
        zone_pbf, zone_hsf = zone.rows(inputs.farmland_pbf), zone.rows(inputs.farmland_hsf)
        names = inputs.counties.set_index(COUNTY)["county_name"]
        pbf_overlaps = interior_overlaps(geoms_of(zone_pbf))
        base = farmland_base_map(zone_pbf, zone_hsf, zone, names, pbf_overlaps)
        return {"farmland_base_map": base,
                "farmland_conflicts": farmland_conflicts(own.farmland_pbf, own.farmland_hsf,
                                                         zone_pbf, base, zone, pbf_overlaps)}
    if family == "licences":
        return {"licenses_on_farmland": licenses_on_farmland(own.licenses, inputs.farmland_pbf)}
    if family == "complaints":
        # registers are matched against all licences: a business may sit in another county
        return {"complaints_enriched": complaints_enriched(own.complaints, inputs.licenses,
                                                           inputs.farmland_pbf, as_of,
                                                           inputs.registers)}
    raise ValueError(f"unknown family {family!r}")


def _layers(inputs: Inputs, own: Inputs, zone: Zone,
            as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    out: dict[str, gpd.GeoDataFrame] = {}
    for family in FAMILIES:
        out.update(_family(inputs, own, zone, family, as_of))
    return out


def integrate_part(inputs: Inputs, key: str, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """One partition (`<county>/<family>`): a county's rows and land, or UNLOCATED's (rows in
    no county, land outside every county)."""
    code, family = split_key(key)
    return _family(inputs, inputs.county(code), inputs.zone([code]), family, as_of)


# -- work orders reused row by row ---------------------------------------------------------------
# `complaints_enriched` is row-wise: a row depends on its own source row, the register, the
# parcels its point may lie on and `as_of`. A staged part keeps, per row, its source row's
# identity (`_row_hashes`) and the interval of `as_of` its response times hold for (see
# `workdays.row_intervals`), in hidden columns: `publish.layers` keeps only the contract's.
ROW_COLUMNS = ("_row", "_judged_after", "_judged_until")
ENRICHED = "complaints_enriched"


def build_part(inputs: Inputs, key: str, as_of: datetime,
               previous: gpd.GeoDataFrame | None = None,
               held: npt.NDArray[np.bool_] | None = None
               ) -> tuple[dict[str, gpd.GeoDataFrame], int]:
    """A partition as `integrate_part` builds it, and how many of its rows were taken from
    `previous` rather than built. Work orders carry `ROW_COLUMNS`; with `previous` (the
    part's enriched orders as a run staged them, built from the same context: counties,
    register and parcels, see `part_prints`), a row whose source row is still the same is
    taken over: as it was where its interval holds at `as_of`, else with only its
    `RESPONSE_RESULTS` judged again (the rest is its source row's and the context's). Only
    the other rows are enriched. A daily delivery then enriches its new orders, and judges
    again those whose deadline passed, not the county.

    Inputs read in part (`PARCELS_READ` on the work orders: the parcels under those orders
    only, no project) build work orders only, and only those orders are enriched; but for
    the counties whose farmland was read (`ZONE_READ` on the counties: every row of their
    shares), which build every family.

    `held` (per own order, in `Inputs.own` order) leaves out the orders whose rows the part
    keeps elsewhere (`segments.carried`): the others only are built."""
    code, family = split_key(key)
    partial = PARCELS_READ in inputs.complaints.columns
    if family != "complaints":
        if partial and not zone_read(inputs, code):
            raise RuntimeError(f"{key}: the run read the farmland in part, not this county's share")
        return integrate_part(inputs, key, as_of), 0
    at = inputs.own_positions("complaints", code)
    if held is not None:  # (picked out first: a county's orders are many, a day's few)
        at = at[~held]
    orders = inputs.complaints.iloc[at]
    rule = ResponseRule.from_region(load_region().response_rule)
    after, until = row_intervals(orders[["pdsj", "sclxsj", "blyjsj", "bjsj"]], as_of, rule,
                                 WorkCalendar())
    rows = row_ids(inputs, "complaints")[at]
    taken, holds = taken_over(previous, rows, as_of)
    kept, fresh = np.flatnonzero(taken >= 0), np.flatnonzero(taken < 0)
    if partial and not orders[PARCELS_READ].to_numpy(dtype=bool)[fresh].all():
        raise RuntimeError(f"{key}: a work order to enrich lies where no parcel was read")
    built = complaints_enriched(orders.iloc[fresh], inputs.licenses, inputs.farmland_pbf, as_of,
                                inputs.registers)
    if len(kept) and previous is not None:
        old = previous.iloc[taken[kept]].drop(columns=list(ROW_COLUMNS)).reset_index(drop=True)
        again = np.flatnonzero(~holds[kept])  # judged at another moment: judged again
        if len(again):
            judged = response_results(orders.iloc[kept[again]], as_of)
            for column in RESPONSE_RESULTS:
                old[column] = old[column].astype(judged[column].dtype)
                old.loc[again, column] = judged[column].to_numpy()
        joined = pd.concat([old, built], ignore_index=True)
        # in the orders' own order, as a whole build gives them
        order = np.argsort(np.concatenate([kept, fresh]), kind="stable")
        built = gpd.GeoDataFrame(joined.iloc[order].reset_index(drop=True), geometry="geom",
                                 crs=4490)
    built["_row"] = rows
    built["_judged_after"] = after
    built["_judged_until"] = until
    return {ENRICHED: built}, int(holds[kept].sum())


def zone_read(inputs: Inputs, code: str) -> bool:
    """Whether inputs read in part hold every row of county `code`'s share (`ZONE_READ`)."""
    counties = inputs.counties
    if ZONE_READ not in counties.columns:
        return False
    marks = counties.loc[counties[COUNTY] == code, ZONE_READ].to_numpy(dtype=bool)
    return len(marks) == 1 and bool(marks[0])


def taken_over(previous: gpd.GeoDataFrame | None, rows: npt.NDArray[np.uint64],
                as_of: datetime) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Per source row (by `rows`, its identity), the position in `previous` of its enriched
    row (-1 where there is none: it must be enriched), and whether that row's interval holds
    at `as_of` (else its response results are judged again)."""
    none = np.full(len(rows), -1, dtype=np.intp)
    if previous is None or not len(previous) or not set(ROW_COLUMNS) <= set(previous.columns):
        return none, none >= 0  # nothing staged, or staged before rows carried their identity
    now = np.datetime64(local_naive(as_of), "us")
    after = previous["_judged_after"].to_numpy(dtype="datetime64[us]")
    until = previous["_judged_until"].to_numpy(dtype="datetime64[us]")
    holding = (np.isnat(after) | (after < now)) & (np.isnat(until) | (now <= until))
    # identical source rows (frames hashed whole) enrich alike: any one of them serves, one
    # that holds first (np.unique gives each value's first position in this order)
    order = np.argsort(~holding, kind="stable")
    unique, first = np.unique(previous["_row"].to_numpy(dtype=np.uint64)[order],
                              return_index=True)
    if not len(unique):
        return none, none >= 0
    found = pd.Index(unique).get_indexer(rows)
    out: npt.NDArray[np.intp] = np.where(found >= 0, order[first[found]], -1).astype(np.intp)
    return out, np.where(out >= 0, holding[np.maximum(out, 0)], False)


def own_rows(inputs: Inputs, code: str) -> npt.NDArray[np.uint64]:
    """The identities of a county's own work orders, in `Inputs.own` order, as `build_part`
    knows them."""
    return row_ids(inputs, "complaints")[inputs.own_positions("complaints", code)]


def row_ids(inputs: Inputs, name: str) -> npt.NDArray[np.uint64]:
    """The identity of every row of frame `name` (`_row_hashes`, row by row), made once."""
    return inputs.memo(f"row ids of {name}", lambda: _row_hashes(getattr(inputs, name)))


def integrate_county(inputs: Inputs, code: str, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """Every family of one county's partition."""
    return _layers(inputs, inputs.county(code), inputs.zone([code]), as_of)


# -- what each part is built from ---------------------------------------------------------------
# A loaded row is identified by `ROW_IDENTITY`. Frames without it (synthesised in tests and
# benches) are hashed whole, geometry included.


def _row_hashes(frame: gpd.GeoDataFrame) -> npt.NDArray[np.uint64]:
    cols = [c for c in ROW_IDENTITY if c in frame.columns]
    if len(cols) == len(ROW_IDENTITY):
        cols += [COUNTY] if COUNTY in frame.columns else []
        hashed = pd.util.hash_pandas_object(frame[cols], index=False)
    else:
        # (what a read says of the row, `PARCELS_READ`, `ZONE_READ`, is not the row)
        plain = pd.DataFrame(frame.drop(columns=[frame.geometry.name, PARCELS_READ, ZONE_READ],
                                        errors="ignore")).astype(str)
        plain["_wkb"] = shapely.to_wkb(geoms_of(frame), hex=True)
        hashed = pd.util.hash_pandas_object(plain, index=False)
    out: npt.NDArray[np.uint64] = hashed.to_numpy(dtype=np.uint64)
    return out


def _digest(*parts: bytes | str | npt.NDArray[np.uint64]) -> str:
    """One digest of row hashes (as a set: the order rows come in does not matter) and tags."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(np.sort(part).tobytes() + b"|%d|" % len(part))
        else:
            h.update((part.encode() if isinstance(part, str) else part) + b"|")
    return h.hexdigest()


class PartPrint(NamedTuple):
    """What a partition is built from (`fingerprint`) and, for work orders, what every row of
    it is built from but its own source row and `as_of` (`context`: counties, register,
    parcels hit; "" for the other families): equal contexts, rows reusable one by one."""

    fingerprint: str
    context: str = ""


def fingerprints(inputs: Inputs, codes: Iterable[str], tag: str = "") -> dict[str, str]:
    """Partition key -> digest of everything its build reads (see `part_prints`)."""
    return {key: p.fingerprint for key, p in part_prints(inputs, codes, tag).items()}


def register_digest(licenses: pd.DataFrame) -> str:
    """Digest of what the licence register (`Registers.of`) is made of: the distinct (credit
    code, name) pairs. Equal digests, equal registers."""
    return _digest("register", np.unique(pd.util.hash_pandas_object(
        licenses[["tyshxydm", "ztmc"]], index=False).to_numpy(dtype=np.uint64)))


def part_prints(inputs: Inputs, codes: Iterable[str], tag: str = "",
                register: str = "") -> dict[str, PartPrint]:
    """Partition key -> digest of everything its build reads (see `_family`), and `tag`
    (what the warehouse is set up for: its contracts): equal digests, equal parts, judged at
    any moment the part's `judged_alike` interval holds. Costs one hash per input row and
    one spatial query per county. (`register`: the licences' `register_digest`, if known.)

    Licences and work orders are looked up among every parcel (`registers.pbf_hits`), but a
    point can only touch parcels of its own zone (`Zone.rows`: the parcels intersecting its
    county's polygon, or reaching outside every county), unless it lies off that land
    (`Zone.holds`): placed by the county it states, or on a county line. Those few are
    looked up among all parcels here too. So one county's parcels sent again rebuild the
    points of the counties those parcels reach, not every county's."""
    names = ("farmland_pbf", "farmland_hsf", "licenses", "complaints")
    rows = {name: row_ids(inputs, name) for name in names}
    counties = _digest(tag, _row_hashes(inputs.counties))
    # work orders read the licences only through their register (`Registers.of`: codes and
    # the names they go by), made from the distinct (code, name) pairs: a licence delivery
    # that changes neither, e.g. new expiry dates, rebuilds no work orders
    register = register or register_digest(inputs.licenses)
    pbf = inputs.farmland_pbf
    none = np.zeros(0, dtype=np.intp)
    out: dict[str, PartPrint] = {}
    for code in codes:
        zone = inputs.zone([code])

        def own(name: str, code: str = code) -> npt.NDArray[np.intp]:
            return inputs.own_positions(name, code)  # (rows grouped by county once)

        def in_zone(name: str, zone: Zone = zone) -> npt.NDArray[np.intp]:
            return zone.positions(getattr(inputs, name))

        zone_pbf = in_zone("farmland_pbf")

        def parcels_hit(name: str, zone: Zone = zone,
                        zone_pbf: npt.NDArray[np.intp] = zone_pbf) -> npt.NDArray[np.uint64]:
            """Hashes of the parcels the partition's own `name` points may lie on."""
            geoms = geoms_of(getattr(inputs, name))[own(name)]
            off = geoms[pd.notna(geoms) & ~zone.holds(geoms)]
            stray = pbf.sindex.query(off, predicate="intersects")[1] if len(off) and len(
                pbf) else none
            picked: npt.NDArray[np.uint64] = rows["farmland_pbf"][np.union1d(zone_pbf, stray)]
            return picked

        out[part_key(code, "farmland")] = PartPrint(_digest(
            "farmland", counties, rows["farmland_pbf"][zone_pbf],
            rows["farmland_hsf"][in_zone("farmland_hsf")],
            rows["farmland_pbf"][own("farmland_pbf")], rows["farmland_hsf"][own("farmland_hsf")]))
        out[part_key(code, "licences")] = PartPrint(_digest(
            "licences", counties, rows["licenses"][own("licenses")], parcels_hit("licenses")))
        context = _digest("complaints.context", counties, register, parcels_hit("complaints"))
        out[part_key(code, "complaints")] = _orders_print(context,
                                                          rows["complaints"][own("complaints")])
    return out


def _orders_print(context: str, own: npt.NDArray[np.uint64]) -> PartPrint:
    """A work-order partition's print: its context and its own rows' hashes."""
    return PartPrint(_digest("complaints", context, own), context)


def orders_prints(inputs: Inputs, contexts: dict[str, str]) -> dict[str, PartPrint]:
    """`part_prints` of the work-order partitions whose context (`PartPrint.context`) is
    known to be `contexts[key]`: the counties, register and parcels the published run
    built them from are the same, so only the orders are hashed (and no parcel is read)."""
    return {key: _orders_print(context, own_rows(inputs, split_key(key)[0]))
            for key, context in contexts.items()}


def judged_alike(inputs: Inputs, codes: Iterable[str],
                 as_of: datetime) -> dict[str, tuple[str, str]]:
    """Complaints partition key -> (after, until): its response-time results judged at
    `as_of` are the same judged at any moment t with after < t <= until ("" unbounded; ISO,
    local time, as `as_of`). A part built within its interval is kept when the next run's
    `as_of` is still in it, though "now" moved: only a deadline passing (or a bound of an
    unknown calendar year) of an order still open changes a result.

    (Re-judging every order's SLA columns at publish time instead would be exact too, but
    would change `complaints_enriched` on nearly every run and so swap all of it in again.)"""
    rule = ResponseRule.from_region(load_region().response_rule)
    frame = inputs.complaints
    at, moments = response_changes(frame[["pdsj", "sclxsj", "blyjsj", "bjsj"]], rule,
                                   WorkCalendar())
    located = frame[COUNTY].fillna(UNLOCATED).to_numpy(dtype=object)[at]
    by_county = pd.Series(moments).groupby(located).indices if len(at) else {}
    none = np.zeros(0, dtype=moments.dtype)

    def iso(t: np.datetime64 | None) -> str:
        return "" if t is None else pd.Timestamp(t).isoformat()

    out: dict[str, tuple[str, str]] = {}
    for code in codes:
        picked = moments[by_county[code]] if code in by_county else none
        after, until = judged_between(picked, as_of)
        out[part_key(code, "complaints")] = (iso(after), iso(until))
    return out


def still_alike(interval: tuple[str, str], as_of: datetime) -> bool:
    """Whether results judged within `interval` (see `judged_alike`) hold at `as_of`."""
    after, until = interval
    now = local_naive(as_of)
    return ((not after or datetime.fromisoformat(after) < now)
            and (not until or now <= datetime.fromisoformat(until)))


def integrate_unpartitioned(inputs: Inputs, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """All rows and all land at once: what the partitioned run must reproduce exactly."""
    return finish(inputs, [_layers(inputs, inputs, inputs.whole(), as_of)], as_of)


# What the cross-county views (`finish`) read of each partitioned layer: a layer published as
# it is needs no more (publish_run reads only these columns of it, and never its geometry).
VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "farmland_base_map": (COUNTY, "class", "area_mu"),  # region_summary
    "farmland_conflicts": (),
    "licenses_on_farmland": ("uscc", COUNTY),  # enterprise_profile, region_summary
    "complaints_enriched": ("uscc", "received_at", COUNTY, "satisfaction", "contact_within_2h",
                            "proposal_within_1wd", "solved_within_15wd"),
}
if set(VIEW_COLUMNS) != set(PARTITIONED):
    raise RuntimeError("VIEW_COLUMNS must name what the views read of every partitioned layer")


def merged_layer(parts: list[dict[str, gpd.GeoDataFrame]], layer: str) -> gpd.GeoDataFrame:
    """One partitioned layer: its rows of every partition, in partition order."""
    found = [p[layer] for p in parts if layer in p]  # a part holds one family's layers
    frames = [f for f in found if len(f)]
    if frames:
        rows = pd.concat(frames, ignore_index=True)
        return gpd.GeoDataFrame(rows, geometry="geom", crs=4490) \
            if "geom" in rows.columns else gpd.GeoDataFrame(rows)
    return next(iter(found), gpd.GeoDataFrame(geometry=[], crs=4490).rename_geometry("geom"))


def finish(inputs: Inputs, parts: list[dict[str, gpd.GeoDataFrame]],
           as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """The partitions merged per layer, and the views spanning counties built from them. A
    layer read only for `VIEW_COLUMNS` (no geometry) stays so: it is not published again."""
    merged = {layer: merged_layer(parts, layer) for layer in PARTITIONED}
    merged["enterprise_profile"] = enterprise_profile(
        inputs.licenses, merged["complaints_enriched"], merged["licenses_on_farmland"], as_of)
    merged["region_summary"] = region_summary(
        inputs.counties, merged["farmland_base_map"], inputs.licenses,
        merged["licenses_on_farmland"], merged["complaints_enriched"])
    return merged
