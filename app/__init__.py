"""livecart web application: wiring, HTTP routes, auth and the CLI."""
