"""FEIG OBID ISC host protocol: codec and reader."""
