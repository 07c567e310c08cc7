-- The compose PostGIS also holds Airflow's metadata database.
CREATE DATABASE airflow OWNER yitu;
