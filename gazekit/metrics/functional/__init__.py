"""Functional metrics: one maths implementation per metric (the Metric classes in gazekit.metrics wrap these).

Each module below registers its scanpath-pair metrics in ``gazekit.metrics.registry``.
"""
