#!/bin/sh
# First start of the timescaledb container: the schema owner (migrations, the writer's TimescaleDB maintenance) and
# the application role (workers, the wall: data only), as `ioc services up` makes them for development.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_pw="$IOC_DB_OWNER_PASSWORD" -v app_pw="$IOC_DB_PASSWORD" <<'SQL'
CREATE ROLE ioc_owner LOGIN NOSUPERUSER CREATEDB NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE ioc LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
GRANT pg_read_all_settings TO ioc_owner;
CREATE DATABASE ioc OWNER ioc_owner;
\connect ioc
ALTER DEFAULT PRIVILEGES FOR ROLE ioc_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ioc;
ALTER DEFAULT PRIVILEGES FOR ROLE ioc_owner GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ioc;
ALTER DEFAULT PRIVILEGES FOR ROLE ioc_owner GRANT EXECUTE ON FUNCTIONS TO ioc;
SQL
