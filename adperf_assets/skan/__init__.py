"""SKAdNetwork 4 / AdAttributionKit: the conversion-value schema and postback rules (no Dagster).

Shared by the sample world, which makes users follow the schema, and the pipeline, which decodes the
postbacks with it. See docs/skan.md.
"""
