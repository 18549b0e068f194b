"""The edge agent: outbox to broker, results and cache from broker into edge.store."""
