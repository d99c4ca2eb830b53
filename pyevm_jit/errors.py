"""Exceptions that cross layers: what the command layer reports and what makes the runtime
interpret instead of running native code."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class CompileError(Exception):
    """Raised when bytecode cannot be compiled; the caller interprets instead."""
