"""HTTP routes, split by resource."""
