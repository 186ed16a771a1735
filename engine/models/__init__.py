"""Lightweight models: the blocks' cost algebra (``blocks``), whole networks built from the papers'
tables (``networks``) and the lenses on them (``analysis``)."""
