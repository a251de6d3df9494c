"""meterbook: a household electricity tracker, tenantry's flagship app (a plugin of the server)."""
