"""Built-in detectors, one module per family; classification.py wires them."""
