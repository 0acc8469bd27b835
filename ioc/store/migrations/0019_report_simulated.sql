-- Reports made by `ioc demo`'s simulator (ioc/app/sim_reports.py) are marked, so the wall, the status page and the
-- on-time KPIs can tell them from citizens' own.
ALTER TABLE reports ADD COLUMN IF NOT EXISTS simulated boolean NOT NULL DEFAULT false;
