"""CryptoScreener-X ML platform: Dagster assets, checks, schedules and the MLflow registry."""
