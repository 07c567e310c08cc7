#!/usr/bin/env bash
# The login the OGC API (pygeoapi) connects as: a member of the read-only analyst role, so it
# reads `publish` and `ogc` and nothing else. The postgis image runs this once, on an empty
# data volume; on an existing database run it by hand the same way (PGHOST/PGPORT set):
#   POSTGRES_USER=yitu POSTGRES_DB=yitu YITU_OGC_DB_PASSWORD=... bash .ci/initdb/20-ogc-reader.sh
# yitu_analyst gets its grants from sql/roles.sql when the warehouse first starts.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="${YITU_OGC_DB_PASSWORD:?set YITU_OGC_DB_PASSWORD}" <<'SQL'
SELECT 'CREATE ROLE yitu_analyst NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_analyst') \gexec
SELECT format(CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_ogc')
                   THEN 'ALTER ROLE yitu_ogc LOGIN PASSWORD %L'
                   ELSE 'CREATE ROLE yitu_ogc LOGIN PASSWORD %L' END, :'password') \gexec
GRANT yitu_analyst TO yitu_ogc;
-- a web service never needs long queries; sessions: 4 gunicorn workers (deploy/pygeoapi/start.sh)
-- x SQLAlchemy's default pool of 5 + 10, so a busy OGC API cannot take the loaders' connections
ALTER ROLE yitu_ogc SET statement_timeout = '60s';
ALTER ROLE yitu_ogc CONNECTION LIMIT 60;
SQL
