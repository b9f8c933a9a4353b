"""The what-if planner: variants as a base scenario plus changes, compared over seeds."""
