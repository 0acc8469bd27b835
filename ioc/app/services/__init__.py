"""Development services (Kafka, PostgreSQL, Redis, Mosquitto) on loopback: ``ioc services up|down|status``.

Only the fallback for development: production endpoints come from ``ioc.settings.Production`` through
``ioc.app.endpoints``.
"""
