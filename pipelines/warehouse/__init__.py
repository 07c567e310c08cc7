"""The warehouse: PostGIS in production, one GeoPackage file as the embedded default."""

from pipelines.warehouse.base import Warehouse, open_warehouse

__all__ = ["Warehouse", "open_warehouse"]
