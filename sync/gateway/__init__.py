"""The central gateway: MQTT in, SIP2 to the ILS out, exactly once."""
