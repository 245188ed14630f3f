"""ringfence: epidemic prevention and control, from the data.

Packages, in the one direction their imports go: `schema` (event and decision tables),
`protocol`, `store` (databases and ingest), `control`, `report`, `twin`, `web`, `cli`.
"""

__version__ = "0.1.0"
