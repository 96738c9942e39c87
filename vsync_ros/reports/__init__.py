"""Reports layer: results tables and model cards, figures, colour maps and ``vsync-bench``.

May import: inference, engine, models, data, geometry, the base modules (not runtime or ros).
"""
