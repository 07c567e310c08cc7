-- Roles of the warehouse (DESIGN.md): a loader that writes, an analyst that reads only
-- `publish`, a monitor that reads `dq` and `publish`, and the OGC API's reader that reads only
-- `ogc` (its latitude-first views, made for pygeoapi; an analyst's QGIS would open them with
-- swapped coordinates). NOLOGIN group roles: grant them to real login users. Safe to run again.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_loader') THEN
    CREATE ROLE yitu_loader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_analyst') THEN
    CREATE ROLE yitu_analyst NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_monitor') THEN
    CREATE ROLE yitu_monitor NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_ogc_reader') THEN
    CREATE ROLE yitu_ogc_reader NOLOGIN;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA publish TO yitu_analyst, yitu_monitor;
GRANT USAGE ON SCHEMA ogc TO yitu_ogc_reader;
GRANT USAGE ON SCHEMA dq TO yitu_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA dq TO yitu_monitor;
-- An earlier version let the analyst and the monitor read `ogc`: taken back.
REVOKE ALL ON SCHEMA ogc FROM yitu_analyst, yitu_monitor;
REVOKE ALL ON ALL TABLES IN SCHEMA ogc FROM yitu_analyst, yitu_monitor;
-- `public` holds PostGIS's catalogs and QGIS's styles: nobody but the owner creates there
-- (PostgreSQL 15's default; older servers let every role do so).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- QGIS reads each layer's default style from public.layer_styles (written with every publish).
GRANT SELECT ON public.layer_styles TO yitu_analyst, yitu_monitor;
GRANT USAGE, CREATE ON SCHEMA audit, core, dq, publish, publish_staging, ogc TO yitu_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA audit, core, dq TO yitu_loader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA audit, core, dq TO yitu_loader;
-- `staging`: integration runs hand each other frames there; the loader's alone.
GRANT USAGE ON SCHEMA staging TO yitu_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA staging TO yitu_loader;
-- What publish by difference compares (pipelines/publish/difference.py): the loader's alone.
-- The analyst roles have no USAGE on `audit`; nobody else is granted these tables either.
REVOKE ALL ON audit.published_layers, audit.published_rows FROM PUBLIC;
