"""The TRACE log level (5) of the drivers: raw frames and APDUs, below DEBUG.

drivers imports nothing of ours (import-linter), so it cannot take ``smartlib.logs.TRACE``;
this is the drivers' one copy, and tests/smartlib/test_logs.py pins the two equal. Must not
do: configure logging (the process's CLI does that).
"""

TRACE = 5
