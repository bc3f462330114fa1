"""Automatic step labels. So far: ``tool_check`` (arithmetic verified with sympy)."""
