"""Evaluations beyond intensities: 亩产效益 classification, EnPI baselines with CUSUM.

Pure arithmetic lives here (``scoring``, ``regression``, ``degree_days``, ``enpi``);
the database is ``store``, the command line ``cli``.
"""
