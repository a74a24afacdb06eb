"""Studies the research notes ask for, run on the chip."""
