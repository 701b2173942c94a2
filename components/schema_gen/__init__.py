"""UnirecSchemaGen: one schema for the interactions and the catalogue they join."""
