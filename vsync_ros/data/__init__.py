"""Data layer.

Synthetic crowd and motion worlds, desync sampling, data-set storage, torch data sets, readers of
PETS2009 / CityStreet / Human3.6M layouts, and the ``vsync-synth`` CLI.

May import: geometry and the base modules (and numpy, opencv, torch for the data sets).
"""
