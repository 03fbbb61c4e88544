"""metrics: per-frame video metrics, drift (start-end contrast and curves) and pairwise ratings.

Each metric is an object with a functional twin (as in torchmetrics); every result is a tidy pandas
DataFrame so drift and tables are computed the same way for every metric.
"""

__version__ = "0.1.0"
