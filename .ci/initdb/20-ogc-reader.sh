#!/usr/bin/env bash
# The login the OGC API (pygeoapi) connects as: a member of yitu_ogc_reader, which reads the
# `ogc` views and nothing else (not `publish`, not the analysts' role). The postgis image runs
# this once, on an empty data volume; on an existing database run it by hand the same way
# (PGHOST/PGPORT set):
#   POSTGRES_USER=yitu POSTGRES_DB=yitu YITU_OGC_DB_PASSWORD=... bash .ci/initdb/20-ogc-reader.sh
# yitu_ogc_reader gets its grants from sql/roles.sql when the warehouse first starts.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="${YITU_OGC_DB_PASSWORD:?set YITU_OGC_DB_PASSWORD}" <<'SQL'
SELECT 'CREATE ROLE yitu_ogc_reader NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_ogc_reader') \gexec
SELECT format(CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yitu_ogc')
                   THEN 'ALTER ROLE yitu_ogc LOGIN PASSWORD %L'
                   ELSE 'CREATE ROLE yitu_ogc LOGIN PASSWORD %L' END, :'password') \gexec
GRANT yitu_ogc_reader TO yitu_ogc;
-- an OGC login made by an earlier version was an analyst
SELECT 'REVOKE yitu_analyst FROM yitu_ogc' FROM pg_auth_members m
  JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
WHERE g.rolname = 'yitu_analyst' AND u.rolname = 'yitu_ogc' \gexec
-- a web service never needs long queries; sessions: 4 gunicorn workers (deploy/pygeoapi/start.sh)
-- x SQLAlchemy's default pool of 5 + 10, so a busy OGC API cannot take the loaders' connections
ALTER ROLE yitu_ogc SET statement_timeout = '60s';
ALTER ROLE yitu_ogc CONNECTION LIMIT 60;
SQL
