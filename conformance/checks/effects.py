"""Observed effects of an accepted reimage (SEM-STATE-AFTER, SEM-OPTION-EFFECT, SEM-CONCURRENT-REIMAGE): the node
read around a 202, and simultaneous reimages of one node."""

from __future__ import annotations

import json

from conformance.checks._base import check, fail, is_reimage, is_transient, not_applicable
from conformance.checks.semantics import race_timing
from conformance.examples import Examples, same
from conformance.models import Exchange, NodeView
from conformance.rules import OPTION_KEY
from conformance.strategies import VALID_REQUESTS, focused

# Reimaging passes through these states before the node is idle again (node lifecycle, swagger states).
STATES_AFTER = frozenset({"reimaging", "starting", "waitingforstarttask", "idle"})
# Tasks that are back in the queue (requeued) and tasks that are over.
QUEUED, DONE = frozenset({"active", "preparing"}), frozenset({"completed"})

def _option(ex: Exchange) -> str:
    """The option the request asked for; requeue when absent."""
    try:
        doc = json.loads(ex.request.body or b"{}")
    except ValueError:
        return "requeue"
    value = doc.get(OPTION_KEY) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else "requeue"


def _accepted(ex: Exchange) -> None:
    if ex.response.status != 202 or not is_reimage(ex.request):
        raise not_applicable("not an accepted reimage")


def _state(view: NodeView | None) -> str | None:
    return view.state if view is not None else None


@check("SEM-STATE-AFTER", offline=False, focus=VALID_REQUESTS, observes="node", everywhere=True)
def state_after(ex: Exchange) -> None:
    """After a 202 the node reads reimaging (or, once done, idle)."""
    _accepted(ex)
    seen = ex.observed
    after = _state(seen.node_after)
    if after is None:
        raise not_applicable("the node was not read after the 202")
    allowed = set(STATES_AFTER)
    # Running tasks may still be finishing (taskcompletion, retaineddata) or being terminated: a node
    # that was running may still read running; one known to have been idle may not.
    if _state(seen.node_before) != "idle":
        allowed.add("running")
    if after not in allowed:
        raise fail("SEM-STATE-AFTER", ex, f"the node reads {after!r} after the 202",
                   expected=f"one of {', '.join(sorted(allowed))}",
                   why="an accepted reimage puts the node in reimaging, and it comes back idle")
    _changed_since(ex, after)


def _changed_since(ex: Exchange, after: str) -> None:
    """An idle node reading idle again must show a newer stateTransitionTime: it went through reimaging."""
    before, now = ex.observed.node_before, ex.observed.node_after
    if before is None or now is None or before.state != "idle" or after != "idle":
        return
    if ex.observed.watch is not None and "reimaging" in ex.observed.watch.states:
        return  # the live-safety watch saw the node reimaging
    if before.transition_time is not None and before.transition_time == now.transition_time:
        raise fail("SEM-STATE-AFTER", ex,
                   f"the node reads idle with the same stateTransitionTime ({now.transition_time}) as before the 202",
                   expected="the node to enter reimaging (a new stateTransitionTime), then come back idle",
                   why="an accepted reimage changes the node's state; ComputeNode.stateTransitionTime records it")


def _tasks(view: NodeView) -> dict[str, str]:
    return {task.id: task.state for task in view.tasks}


@check("SEM-OPTION-EFFECT", offline=False, observes="tasks",
       focus=focused(target=("running",), body=("option", "empty"), extra_fault=False))
def option_effect(ex: Exchange) -> None:
    """Running tasks are requeued, terminated or left to finish as the option says."""
    _accepted(ex)
    seen = ex.observed
    if seen.node_before is None or seen.node_after is None:
        raise not_applicable("tasks were not observed around the 202")
    before, after = _tasks(seen.node_before), _tasks(seen.node_after)
    running = [t for t, s in before.items() if s == "running" and t in after]
    if not running:
        raise not_applicable("no running task was observed before and after")
    option = _option(ex)
    node_after = seen.node_after.state
    still = [t for t in running if after[t] == "running"]
    if option in ("requeue", "terminate") and node_after in ("reimaging", "idle") and still:
        raise fail("SEM-OPTION-EFFECT", ex,
                   f"with {option}, the node reads {node_after} while tasks {still} still run",
                   expected="running tasks terminated before the node is reimaged",
                   why="requeue and terminate: 'Reimage the Compute Node as soon as Tasks have been terminated'")
    # Otherwise only contradictions are failures: timing can leave a task running a little longer.
    forbidden = {"requeue": DONE, "terminate": QUEUED}.get(option, QUEUED)
    wrong = {t: after[t] for t in running if after[t] in forbidden}
    if wrong:
        meaning = {"requeue": "terminated and requeued (active again, not completed)",
                   "terminate": "terminated and not run again (not requeued)"}.get(
            option, "allowed to finish (not requeued)")
        raise fail("SEM-OPTION-EFFECT", ex, f"with {option}, running tasks are now {wrong}",
                   expected=f"running tasks {meaning}", why="the option enum's descriptions (swagger)")


@check("SEM-CONCURRENT-REIMAGE", offline=False, simultaneous=3, examples=Examples((same,)),
       focus=focused(target=("accept",), body=("absent",), timeout=("absent",), headers="none", extra_fault=False))
def concurrent_reimage(ex: Exchange) -> None:
    """Simultaneous reimages of one idle node: exactly one 202, the others 409."""
    burst = ex.observed.burst
    if burst is None:
        raise not_applicable("not one of simultaneous reimages")
    if ex.expectation.uncertain or 202 not in ex.expectation.statuses or ex.expectation.faults:
        raise not_applicable("the node was not known to be idle or running, or the request could not be accepted")
    statuses = burst.statuses
    if is_transient(ex.response) or any(s >= 500 or s == 429 for s in statuses):
        raise not_applicable("a transient or server error answer among them (the no-5xx rule decides those)")
    accepted = statuses.count(202)
    if accepted == 1 and statuses.count(409) == len(statuses) - 1:
        return
    if accepted > 1 and set(statuses) <= {202, 409} and not burst.race_shown:
        raise not_applicable(f"{accepted} of {len(statuses)} accepted, but the node's reimage may have ended "
                             f"before the later ones were handled ({race_timing(burst)})")
    shown = f"; {race_timing(burst)}" if accepted > 1 else ""
    raise fail("SEM-CONCURRENT-REIMAGE", ex,
               f"{len(statuses)} simultaneous reimages of one idle node answered {', '.join(map(str, statuses))}"
               f"{shown}", expected=f"exactly one 202 and 409 for the other {len(statuses) - 1}",
               why="a node the target has just accepted for reimage is no longer idle or running, so only one of "
                   "simultaneous reimages can be accepted")
