"""The plan stage: the schedule language and token math, variants and their plans (equal to the official loops), and packing of the context into tokens."""
