"""The edge service on each kiosk or gate box: store, circulation, gate logic, HTTP API."""
