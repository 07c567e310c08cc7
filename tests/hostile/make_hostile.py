"""Write the hostile corpus: files a careless or hostile department could drop, each under
tests/hostile/files/<case>/; what each must come to is in tests/hostile/expected.yml.

    uv run --frozen python -m tests.hostile.make_hostile [OUT_DIR]

Deterministic (tests/unit/test_read_hostile.py checks the checked-in files against this
generator). Cases marked large inflate to hundreds of MB or hold 50 000 members: they are
written at test time into a temporary folder, never checked in.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.hostile import spatial, tabular

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
Writer = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    dataset: str
    file: str
    write: Writer
    large: bool = False  # generated at test time, not checked in


CMP, LIC, PBF, HSF = "complaints", "licenses", "farmland_pbf", "farmland_hsf"
CASES: dict[str, Case] = {
    # CSV
    "csv_nul_byte": Case(CMP, "工单.csv", tabular.csv_nul_byte),
    "csv_multiline_small": Case(CMP, "工单.csv", tabular.csv_multiline_small),
    "csv_multiline_large": Case(CMP, "工单.csv", tabular.csv_multiline_large, large=True),
    "csv_line_200mb": Case(CMP, "工单.csv", tabular.csv_line_200mb, large=True),
    "csv_long_line_within_limit": Case(CMP, "工单.csv", tabular.csv_long_line_within_limit,
                                       large=True),
    "csv_ragged_with_caller": Case(CMP, "工单.csv", tabular.csv_ragged_with_caller),
    "csv_unclosed_quote": Case(CMP, "工单.csv", tabular.csv_unclosed_quote),
    "csv_gbk_multiline": Case(CMP, "工单.csv", tabular.csv_gbk_multiline),
    "csv_undecodable": Case(CMP, "工单.csv", tabular.csv_undecodable),
    "csv_many_columns": Case(CMP, "工单.csv", tabular.csv_many_columns),
    "csv_blank_lines": Case(CMP, "工单.csv", tabular.csv_blank_lines),
    "csv_bom_only": Case(CMP, "工单.csv", tabular.csv_bom_only),
    "csv_random_bytes": Case(CMP, "工单.csv", tabular.csv_random_bytes),
    "csv_header_with_nul": Case(CMP, "工单.csv", tabular.csv_header_with_nul),
    "csv_too_many_rows": Case(CMP, "工单.csv", tabular.csv_too_many_rows, large=True),
    "csv_named_xlsx": Case(CMP, "工单.xlsx", tabular.csv_named_xlsx),
    "csv_formulas": Case(CMP, "工单.csv", tabular.csv_semicolons_and_formulas),
    # XLSX
    "xlsx_only_far_cell": Case(LIC, "证照.xlsx", tabular.xlsx_only_far_cell),
    "xlsx_far_corners": Case(LIC, "证照.xlsx", tabular.xlsx_far_corners),
    "xlsx_sheet_declared_huge": Case(LIC, "证照.xlsx", tabular.xlsx_sheet_declared_huge,
                                     large=True),
    "xlsx_too_many_cells": Case(LIC, "证照.xlsx", tabular.xlsx_too_many_cells, large=True),
    "xlsx_broken_shared_strings": Case(LIC, "证照.xlsx", tabular.xlsx_broken_shared_strings),
    "xlsx_shared_strings_declared_huge": Case(LIC, "证照.xlsx",
                                              tabular.xlsx_shared_strings_declared_huge,
                                              large=True),
    "xlsx_many_columns": Case(LIC, "证照.xlsx", tabular.xlsx_many_columns),
    "xlsx_dtd_in_shared_strings": Case(LIC, "证照.xlsx", tabular.xlsx_dtd_in_shared_strings),
    "xlsx_not_a_zip": Case(LIC, "证照.xlsx", tabular.xlsx_not_a_zip),
    "xlsx_empty_sheet": Case(LIC, "证照.xlsx", tabular.xlsx_empty_sheet),
    "xlsx_cells_without_positions": Case(LIC, "证照.xlsx", tabular.xlsx_cells_without_positions),
    "xlsx_nul_escape_in_cell": Case(LIC, "证照.xlsx", tabular.xlsx_nul_escape_in_cell),
    "xlsx_merge_everything": Case(LIC, "证照.xlsx", tabular.xlsx_merge_everything),
    "xlsx_many_merges": Case(LIC, "证照.xlsx", tabular.xlsx_many_merges),
    "xlsx_title_and_numbers": Case(LIC, "证照.xlsx", tabular.xlsx_title_and_numbers),
    # zipped Shapefile
    "zip_good_shapefile": Case(PBF, "图斑.zip", spatial.zip_good_shapefile),
    "zip_gbk_member_names": Case(PBF, "图斑.zip", spatial.zip_gbk_member_names),
    "zip_missing_shx": Case(PBF, "图斑.zip", spatial.zip_missing_shx),
    "zip_no_shp": Case(PBF, "图斑.zip", spatial.zip_no_shp),
    "zip_nested_zip": Case(PBF, "图斑.zip", spatial.zip_nested_zip),
    "zip_dbf_declares_millions": Case(PBF, "图斑.zip", spatial.zip_dbf_declares_millions),
    "zip_shp_garbage": Case(PBF, "图斑.zip", spatial.zip_shp_garbage),
    "zip_dbf_undecodable": Case(PBF, "图斑.zip", spatial.zip_dbf_undecodable),
    "zip_cpg_unknown": Case(PBF, "图斑.zip", spatial.zip_cpg_unknown),
    "zip_declared_many_members": Case(PBF, "图斑.zip", spatial.zip_declared_many_members),
    "zip_50k_members": Case(PBF, "图斑.zip", spatial.zip_50k_members, large=True),
    # GeoPackage
    "gpkg_good": Case(PBF, "图斑.gpkg", spatial.gpkg_good),
    "gpkg_recursive_view": Case(PBF, "图斑.gpkg", spatial.gpkg_recursive_view),
    "gpkg_view_unknown_function": Case(PBF, "图斑.gpkg", spatial.gpkg_view_unknown_function),
    "gpkg_nul_in_text": Case(PBF, "图斑.gpkg", spatial.gpkg_nul_in_text),
    "gpkg_many_layers": Case(PBF, "图斑.gpkg", spatial.gpkg_many_layers),
    "gpkg_random_body": Case(PBF, "图斑.gpkg", spatial.gpkg_random_body),
    # GeoJSON
    "geojson_good": Case(HSF, "项目区.geojson", spatial.geojson_good),
    "geojson_deep_nesting": Case(HSF, "项目区.geojson", spatial.geojson_deep_nesting),
    "geojson_brackets_in_strings": Case(HSF, "项目区.geojson", spatial.geojson_brackets_in_strings),
    "geojson_truncated": Case(HSF, "项目区.geojson", spatial.geojson_truncated),
    "geojson_lone_surrogate": Case(HSF, "项目区.geojson", spatial.geojson_lone_surrogate),
    "geojson_huge_numbers": Case(HSF, "项目区.geojson", spatial.geojson_huge_numbers),
    "unsupported_extension": Case(HSF, "项目区.exe", spatial.unsupported_extension),
}


def write_case(name: str, folder: Path) -> Path:
    case = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.file
    case.write(path)
    return path


def write_hostile(out: Path = FILES) -> None:
    shutil.rmtree(out, ignore_errors=True)
    for name, case in CASES.items():
        if not case.large:
            write_case(name, out / name)


if __name__ == "__main__":
    write_hostile(Path(sys.argv[1]) if len(sys.argv) > 1 else FILES)
