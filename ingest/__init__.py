"""Ingestion: turn what arrives from outside (MQTT, HTTP, files, cameras) into validated events or dead letters."""
