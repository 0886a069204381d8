"""Subcommands, in the order ``wpgd --help`` lists them (each a module of this package)."""

COMMANDS = ["risk", "verify", "train", "experiment", "sweep", "solve", "conditions", "curve", "atlas", "check-derivation"]
