"""The central console's ``retry_security`` command carried out by the edge's security
service (the agent stored it; tests/sync/agent/test_commands.py covers the MQTT path)."""

from __future__ import annotations

import uuid

from tests.edge.doubles import make_tag
from tests.edge.test_circulation import login, put


def test_a_retry_command_writes_now_and_records_the_outcome(services, reader) -> None:
    reader.afi_fail_rate = 1.0
    put(reader, make_tag("3000700"))
    [result] = services.circulation.checkout(login(services))
    assert result.status == "loaned_alarm_on"
    [task] = services.store.security.open(states=("alarm_on",))
    store = services.store

    # Still failing: the command fails with the reader's error; the task stays open.
    first = str(uuid.uuid4())
    store.commands.receive(first, "retry_security", str(task.id), issued_by="lan")
    assert services.security.run_commands() == [first]
    failed = store.commands.get(first)
    assert failed is not None and failed.state == "failed"
    assert failed.outcome == store.security.get(task.id).last_error
    assert store.security.get(task.id).state == "alarm_on"

    # The reader works again: the retry writes the tag, the command is done.
    reader.afi_fail_rate = 0.0
    second = str(uuid.uuid4())
    store.commands.receive(second, "retry_security", str(task.id), issued_by="lan")
    services.recovery.run_once()  # the background pass runs the commands first
    done = store.commands.get(second)
    assert done is not None and (done.state, done.outcome) == ("done", None)
    assert store.security.get(task.id).state == "done"
    assert [c.command_id for c in store.commands.unacked()] == [first, second]

    # A retry of a task that is no longer open fails with the reason; an unknown one too.
    late, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    store.commands.receive(late, "retry_security", str(task.id))
    store.commands.receive(unknown, "retry_security", "424242")
    services.security.run_commands()
    assert store.commands.get(late).outcome == f"security task {task.id} is done"  # type: ignore[union-attr]
    assert store.commands.get(unknown).state == "failed"  # type: ignore[union-attr]
