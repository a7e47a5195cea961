"""Currency and time-zone normalisation: plain pandas, no Dagster."""
