"""fpeval: run and evaluate every FramePack sampling variant.

Data flows one way: schedule / variant plan -> packed context -> sampler -> latents -> video ->
metrics -> tidy DataFrame -> table / figure. This package holds the generation side; the sibling
package ``metrics`` holds scoring, drift and ratings.
"""

from fpeval.plan.schedule import Direction, Role, Schedule, layout, parse
from fpeval.plan.tokens import LatentSize, count_tokens

__version__ = "0.1.0"
__all__ = ["Direction", "LatentSize", "Role", "Schedule", "count_tokens", "layout", "parse", "__version__"]
