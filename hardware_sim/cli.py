"""``smartlib sim``: the simulator's commands, each in its own module."""

from __future__ import annotations

from smartlib.cli import LazyCommands

sim = LazyCommands(
    name="sim",
    help="The hardware simulator: readers, gates, card reader and demo ILS.",
    lazy={
        "serve": "hardware_sim.serve:serve",   # reader/gate/card devices + control API
        "ctl": "hardware_sim.ctl_cli:ctl",         # talk to a running simulator's control API
        "ils": "hardware_sim.ils.cli:ils",     # the demo ILS on its own
    },
)
