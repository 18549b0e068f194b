"""``smartlib demo``: the whole system on simulated devices, supervised, and its scenarios.

This package sits on top of everything: it may import any package of ours (it starts them
as subprocesses and imports none today), and nothing in production imports it
(import-linter). Modules: :mod:`~smartlib_demo.processes` (processes, waits, ports, pcscd),
:mod:`~smartlib_demo.site` (names, tokens, patrons, config files), :mod:`~smartlib_demo.system`
(start and stop the system), :mod:`~smartlib_demo.scenarios` (scripted runs),
:mod:`~smartlib_demo.cli` (the command).
"""
