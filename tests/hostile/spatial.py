"""Hostile and broken zipped Shapefiles, GeoPackages and GeoJSON (registered in make_hostile)."""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import zipfile
from pathlib import Path

import numpy as np

from tests.corpus import rows
from tests.corpus.writers import (
    EXPORT_TIME,
    shapefile_parts,
    write_geojson,
    write_gpkg,
    zip_members,
)

LAYER = "YJJBNTBHTB"


def _parts(n: int = 3, **kwargs: object) -> dict[str, bytes]:
    return dict(shapefile_parts(rows.pbf_parcels("460105", n), LAYER, "GBK", **kwargs))  # type: ignore[arg-type]


def zip_good_shapefile(path: Path) -> None:
    zip_members(path, list(_parts().items()))


class _LegacyName(zipfile.ZipInfo):
    """A member named in GBK without the UTF-8 flag, as Windows' own zip writes it."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # noqa: N802  # zipfile's name
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def zip_gbk_member_names(path: Path) -> None:
    """Chinese member names in code page 936, one with a 0x5C (backslash) trail byte."""
    stem = "永久基本农田图斑_蔦"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _parts().items():
            info = _LegacyName(stem + name[len(LAYER):], date_time=EXPORT_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def zip_missing_shx(path: Path) -> None:
    zip_members(path, [(n, d) for n, d in _parts().items() if not n.endswith(".shx")])


def zip_no_shp(path: Path) -> None:
    zip_members(path, [(n, d) for n, d in _parts().items() if n.endswith(".dbf")])


def zip_nested_zip(path: Path) -> None:
    inner = path.with_suffix(".inner")
    zip_members(inner, list(_parts().items()))
    zip_members(path, [("shapefile.zip", inner.read_bytes())])
    inner.unlink()


def zip_dbf_declares_millions(path: Path) -> None:
    parts = _parts()
    dbf = bytearray(parts[f"{LAYER}.dbf"])
    struct.pack_into("<I", dbf, 4, 3_000_000)
    parts[f"{LAYER}.dbf"] = bytes(dbf)
    zip_members(path, list(parts.items()))


def zip_shp_garbage(path: Path) -> None:
    parts = _parts()
    parts[f"{LAYER}.shp"] = np.random.default_rng(11).bytes(4096)
    zip_members(path, list(parts.items()))


def zip_dbf_undecodable(path: Path) -> None:
    """GBK without .cpg, the second parcel's 坐落单位名称 holding a lead byte followed by a
    space (no GBK character): decoded as U+FFFD, reported by cell."""
    frame = rows.pbf_parcels("460105", 3)
    frame["ZLDWMC"] = ["红旗村", "QQQQ村", "红旗村"]
    parts = dict(shapefile_parts(frame, LAYER, "GBK"))
    dbf = parts[f"{LAYER}.dbf"]
    assert dbf.count(b"QQQQ") == 1
    parts[f"{LAYER}.dbf"] = dbf.replace(b"QQQQ", b"\x81 \x81 ")
    zip_members(path, list(parts.items()))


def zip_cpg_unknown(path: Path) -> None:
    zip_members(path, list(_parts(cpg="KLINGON-1").items()))


def zip_declared_many_members(path: Path) -> None:
    """The end-of-directory record declares 60 000 members."""
    zip_members(path, list(_parts().items()))
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, 60_000, 60_000)
    path.write_bytes(bytes(data))


def zip_50k_members(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in _parts().items():
            zf.writestr(zipfile.ZipInfo(name, EXPORT_TIME), data)
        for i in range(50_000):
            zf.writestr(zipfile.ZipInfo(f"notes/{i:05d}.txt", EXPORT_TIME), b"x")


# -- GeoPackage ------------------------------------------------------------------------------
def gpkg_good(path: Path) -> None:
    write_gpkg(path, [(LAYER, rows.pbf_parcels("460106", 3))])


def _tamper(path: Path, *sql: str) -> None:
    gpkg_good(path)
    con = sqlite3.connect(path)
    for statement in sql:
        con.execute(statement)
    con.commit()
    con.close()


_REGISTER = ("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id, last_change) "
             "VALUES ('{0}', 'features', '{0}', 4490, '2026-11-01T09:00:00Z')",
             "INSERT INTO gpkg_geometry_columns VALUES ('{0}', 'geom', 'MULTIPOLYGON', 4490, 0, 0)")


def gpkg_recursive_view(path: Path) -> None:
    """The expected layer is a view over an endless recursive query."""
    _tamper(path, f"ALTER TABLE {LAYER} RENAME TO base",
            "UPDATE gpkg_contents SET table_name = 'base', identifier = 'base'",
            "UPDATE gpkg_geometry_columns SET table_name = 'base'",
            f"CREATE VIEW {LAYER} AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
            "SELECT n + 1 FROM r) SELECT n AS fid, b.* FROM r, base AS b",
            *(s.format(LAYER) for s in _REGISTER))


def gpkg_view_unknown_function(path: Path) -> None:
    _tamper(path, "CREATE VIEW v AS SELECT fid, geom, ST_MinX(geom) AS x FROM " + LAYER,
            *(s.format("v") for s in _REGISTER))


def gpkg_nul_in_text(path: Path) -> None:
    """Two parcel numbers differing only after a NUL: GDAL would read both as `NA`."""
    _tamper(path, f"UPDATE {LAYER} SET YJJBNTTBBH = CAST(x'4e41003031' AS TEXT) WHERE fid = 2",
            f"UPDATE {LAYER} SET YJJBNTTBBH = CAST(x'4e41003032' AS TEXT) WHERE fid = 3")


def gpkg_many_layers(path: Path) -> None:
    _tamper(path, *(_REGISTER[0].format(f"layer_{i}") for i in range(150)))


def gpkg_random_body(path: Path) -> None:
    gpkg_good(path)
    data = bytearray(path.read_bytes())
    data[100:] = np.random.default_rng(5).bytes(len(data) - 100)
    path.write_bytes(bytes(data))


# -- GeoJSON ---------------------------------------------------------------------------------
def _collection() -> dict[str, object]:
    frame = rows.hsf_projects("460105", 2).to_crs(4326)
    return json.loads(frame.to_json(drop_id=True))  # type: ignore[no-any-return]


def geojson_good(path: Path) -> None:
    write_geojson(rows.hsf_projects("460105", 2), path)


def geojson_deep_nesting(path: Path) -> None:
    depth = 20_000  # GDAL's parsers stop at 1024 levels; 64 is ours
    doc = '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"XMBH":' \
          + "[" * depth + "1" + "]" * depth + '},"geometry":null}]}'
    path.write_text(doc, encoding="utf-8")


def geojson_brackets_in_strings(path: Path) -> None:
    doc = _collection()
    feature = doc["features"][0]  # type: ignore[index]
    feature["properties"]["XMMC"] = "[" * 500 + '\\"{{{' + "}" * 3  # type: ignore[index]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def geojson_truncated(path: Path) -> None:
    geojson_good(path)
    path.write_bytes(path.read_bytes()[:-200])


def geojson_lone_surrogate(path: Path) -> None:
    text = json.dumps(_collection(), ensure_ascii=True)
    path.write_text(text.replace('"XMBH": "', '"XMBH": "\\ud800', 1), encoding="utf-8")


def geojson_huge_numbers(path: Path) -> None:
    text = json.dumps(_collection())
    number = re.compile(r"-?[0-9][0-9.]*").search(text, text.index('"coordinates"'))
    assert number is not None
    path.write_text(text[:number.start()] + "1e400" + text[number.end():], encoding="utf-8")


def unsupported_extension(path: Path) -> None:
    path.write_bytes(b"MZ" + bytes(510))
