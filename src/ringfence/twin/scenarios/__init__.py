"""The scenarios that come with ringfence (TOML files) and the variants they share."""
