"""greenmon: streaming monitor of energy, water and CO2 per unit of industrial value-added."""

__version__ = "0.1.0"
