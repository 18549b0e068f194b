"""Device drivers: sans-IO codecs, transports and vendor readers. Imports nothing of ours."""
