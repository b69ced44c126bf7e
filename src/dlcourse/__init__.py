"""Small helpers that the course notebooks import.

Nothing here solves an exercise and nothing here grades one: students install this package.
"""

from dlcourse.runtime import device, seed_everything

__all__ = ["device", "seed_everything"]
__version__ = "0.1.0"
