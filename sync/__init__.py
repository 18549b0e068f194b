"""Store-and-forward to the central gateway over MQTT, the gateway, and SIP2."""
