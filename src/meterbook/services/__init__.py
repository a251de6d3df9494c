"""meterbook's use cases over the database; shared by the JSON API and the web pages."""
