"""The HTTP service: app factory, routes by resource, problem-details errors."""
