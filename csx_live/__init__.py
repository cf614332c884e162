"""CryptoScreener-X live runtime: exchange connectors, the runner, its HTTP server."""
