"""Asset checks, one module per domain; loaded into the one Definitions."""
