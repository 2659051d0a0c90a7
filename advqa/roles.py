"""The four agent roles of a probe, in the order a round calls them."""

ROLES = ("questioner", "student", "expert", "critic")
