"""The ape project under ape_project/ is run by `ape test` (test_ape_provider.py), not
collected by this suite."""

collect_ignore = ["ape_project"]
