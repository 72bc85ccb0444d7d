"""One module per benchmark case; each exposes ``case_<id>(settings) -> CaseReport``."""
