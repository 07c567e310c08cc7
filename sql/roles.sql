-- Roles of the warehouse (DESIGN.md): a loader that writes, an analyst that reads only
-- `publish` (and `ogc`, its views for the OGC API), a monitor that reads `dq` and `publish`.
-- NOLOGIN group roles: grant them to real login users. Safe to run again.
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
END
$$;
GRANT USAGE ON SCHEMA publish, ogc TO yitu_analyst, yitu_monitor;
GRANT USAGE ON SCHEMA dq TO yitu_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA dq TO yitu_monitor;
GRANT USAGE, CREATE ON SCHEMA audit, core, dq, publish, publish_staging, ogc TO yitu_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA audit, core, dq TO yitu_loader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA audit, core, dq TO yitu_loader;
-- `staging`: integration runs hand each other frames there; the loader's alone.
GRANT USAGE ON SCHEMA staging TO yitu_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA staging TO yitu_loader;
