"""The conformance session: target, inventory, oracle, and one Hypothesis property per requirement."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, example, given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hsettings
from hypothesis.errors import Flaky, Unsatisfiable

from conformance import checks
from conformance.checks import is_transient
from conformance.config import Settings
from conformance.inventory import Inventory
from conformance.inventory import Node as InventoryNode
from conformance.models import (
    Exchange,
    HarnessError,
    NodeView,
    Observations,
    Request,
    RequirementFailure,
    Response,
    TaskView,
)
from conformance.oracle import Oracle
from conformance.reporting.failures import describe_failure
from conformance.reporting.har import TrafficRecorder
from conformance.reporting.results import RequirementResult, RunResult
from conformance.rules import ACCEPTING_STATES, reimage_target
from conformance.run import nodes, races
from conformance.run.nodes import Node, NodeBook
from conformance.run.safety import LiveSafety, Planned, Withheld, remedy_for
from conformance.spec import catalogue
from conformance.targets.base import NotExpressible, Target, get_json, sent_request
from conformance.targets.guard import Guard

PASSIVE_CATEGORIES = frozenset({"response", "error"})
PROFILE_EXAMPLES = {"quick": 12, "standard": 60, "thorough": 400}
for _name, _n in PROFILE_EXAMPLES.items():
    hsettings.register_profile(
        f"batch-conformance-{_name}", max_examples=_n, deadline=None, database=None, print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink), report_multiple_bugs=False,
    )


def is_passive(requirement_id: str) -> bool:
    """Requirements any single exchange can decide are judged on every exchange the run sends, so a fault
    met while testing another requirement is never missed (it is reported unshrunk)."""
    requirement = catalogue().get(requirement_id)
    if requirement is None or requirement_id not in checks.CHECKS:
        return False
    home = checks.CHECKS.get(requirement_id)
    return home.everywhere or (requirement.category in PASSIVE_CATEGORIES and home.offline)


def run_phase(requirement_id: str) -> int:
    """When a requirement's property runs: observed effects first, those on running tasks before any other
    property may reimage their nodes; single-exchange requirements last, after every other property's
    exchanges were judged against them too."""
    observes = checks.CHECKS.get(requirement_id).observes if requirement_id in checks.CHECKS else ""
    if observes:
        return 0 if observes == "tasks" else 1
    return 3 if is_passive(requirement_id) else 2


@dataclass
class _Attempt:
    exchange: Exchange | None = None
    failure: RequirementFailure | None = None


class _StopGenerating(BaseException):  # a signal, not an error: stop generating
    """Every example so far was withheld by live safety (drawing more would only be withheld too), or enough were
    accepted and the next would wait for a node: a BaseException, so Hypothesis stops at once instead of treating
    it as a failure to shrink."""


@dataclass
class _Tally:
    """Why the examples of a property decided nothing, counted while it runs."""

    sent: int = 0
    accepted: int = 0  # of them answered 202
    withheld: list[str] = field(default_factory=list)
    inexpressible: list[str] = field(default_factory=list)  # inputs this target (an SDK) cannot send
    transient: int = 0  # answers that decide nothing (503 ServerBusy, 500 OperationTimedOut, 429)
    quick: int = 0  # simultaneous reimages whose node's reimage ended too soon to tell a race


@dataclass
class Session:
    """One run: everything a requirement property needs, and the results it accumulates."""

    settings: Settings
    target: Target
    inventory: Inventory
    run: RunResult
    served_versions: frozenset[str] | None = None
    auth_enforced: bool | None = None
    recorder: TrafficRecorder | None = None
    guard: Guard | None = None  # the run's limits; by default the target's own
    oracle: Oracle = field(init=False)
    safety: LiveSafety = field(init=False)
    nodes: NodeBook = field(init=False)

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = getattr(self.target, "guard", None) or Guard()
        self.oracle = Oracle(self.inventory, self.settings.api_version,
                             served_versions=self.served_versions, auth_enforced=self.auth_enforced)
        self.safety = LiveSafety.from_settings(self.settings, self.inventory)
        self.nodes = NodeBook(self.settings.watch_seconds)
        self.passive = tuple(rid for rid in self.run.requirements if is_passive(rid))
        self.current = ""  # the requirement whose property is running
        self.may_wait = True  # whether a request may wait for a node still reimaging (see _run_property)

    def finish(self) -> None:
        """Wait for every node this run reimaged to read idle again (or its watch time), and report how long each
        reimage took."""
        try:
            self.nodes.finish(self.node_state)
        except HarnessError as err:  # the target went away at the end: the measurements stay as they were
            self.run.harness_errors.append(f"reading the reimaged nodes back at the end: {err}")
        self.run.reimages = self.nodes.report()

    def judge_passively(self, own: str, exchange: Exchange, *, include_own: bool = False) -> None:
        """Evaluate the single-exchange requirements on an exchange made for another requirement (include_own: also
        on `own`'s, for an exchange the engine made by itself during `own`'s property)."""
        for rid in self.passive:
            if rid == own and not include_own:
                continue
            result = self.run.requirements[rid]
            try:
                decided = checks.evaluate(rid, exchange)
            except RequirementFailure as failure:
                result.broke()
                if result.first_failure is None:
                    result.fail(describe_failure(exchange, failure, self.settings, also=(own,) if own else ()))
                continue
            if decided:
                result.met()

    # --- sending -----------------------------------------------------------------------------
    def exchange(self, request: Request, *, observe_node: bool = False, route: bool = True) -> Exchange:
        """Send one request (through live safety) and pair it with what the oracle expects and what was seen.
        route: a request that could be accepted moves off a node this run is still reimaging (see nodes.py)."""
        if route:
            request = nodes.route(self, request)
        expectation = self.oracle.expect(request)
        planned = Planned(request, expectation, self.node_state)
        self.target.express(request)  # what the target cannot send never reads a node or spends a reimage
        self.safety.admit(planned)
        before = self._node_view(request, tasks_of_pool=False) if observe_node and 202 in expectation.statuses \
            else None
        expectation = self.oracle.expect(request)  # what admission's reads showed (auth, the node's state) counts
        sent_at = time.monotonic()
        response = self._send(request)
        answered_at = time.monotonic()
        sent = sent_request(self.target, request)  # judged as it went on the wire (an SDK serialises it itself)
        after = self.after_202(request, sent_at, answered_at, tasks=observe_node) if response.status == 202 else None
        observed = Observations(auth_enforced=self.oracle.auth_enforced, node_before=before, node_after=after)
        return Exchange(sent, response, expectation, self.settings.api_version, self.target.base_url, observed,
                        sent=sent)

    def after_202(self, request: Request, sent_at: float, answered_at: float, *, tasks: bool = False,
                  second: bool = True) -> NodeView | None:
        """After a 202 on a reimage: read the node at once (with the pool's queued tasks when `tasks`), leave it
        busy until a read shows it idle, and (second) send it a second reimage while it reads reimaging."""
        if reimage_target(request) is None or request.method.upper() != "POST":
            return None
        node = self.canonical(request)
        known = self._inventory_node(node) is not None
        if known:
            self.nodes.accepted(node, sent_at, answered_at)
        read_at = time.monotonic()
        view = self._node_view(request, tasks_of_pool=tasks)
        state = view.state if view is not None else None
        if known:
            self.nodes.seen(node, state, read_at, time.monotonic())
        if state in ACCEPTING_STATES:  # idle again: judged like any other node from now on
            self.oracle.note_state(*node, state)
        if known and second:
            races.second_reimage(self, node, state, read_at, sent_at)
        return view

    def _inventory_node(self, node: Node) -> InventoryNode | None:
        pool = self.inventory.pool(node[0])
        return pool.node(node[1]) if pool else None

    def send_raw(self, request: Request) -> Response:
        """Send without the oracle's expectation or live safety (the caller made both): recorded and observed."""
        return self._send(request)

    def _send(self, request: Request) -> Response:
        response = self.target.send(request)
        self.oracle.observe(request, response)
        self.run.note_server(response.header("Server"))  # the certification record names the target by it
        self.record(request, response)
        return response

    def record(self, request: Request, response: Response) -> None:
        """Add an exchange to the HAR recording (--record), as the target put the request on the wire."""
        if self.recorder is not None:
            sent = getattr(self.target, "last_sent", None) or request
            self.recorder.add(sent, response, self.target.base_url)

    @property
    def stopped(self) -> str:
        """Why the run sends nothing more ('' while it may send): its deadline, the breaker, a signal."""
        assert self.guard is not None
        return self.guard.reason if self.guard.stopped else ""

    def get_json(self, path: str) -> Any:
        """GET a resource of the target (recorded); its JSON, or None when it is not a 200 with JSON."""
        return get_json(self._send, path, self.settings.api_version)

    def node_state(self, pool_id: str, node_id: str) -> str | None:
        """The node's state read with Get Node (recorded, told to the node book and the oracle), or None if
        unreadable. A node this run is still reimaging stays 'this run reimaged it' (202 or 409) for the oracle
        until it reads idle or running: it may finish before the next request."""
        sent_at = time.monotonic()
        doc = self.get_json(f"/pools/{quote(pool_id, safe='')}/nodes/{quote(node_id, safe='')}")
        state = doc.get("state") if isinstance(doc, dict) else None
        state = state if isinstance(state, str) else None
        busy = not self.nodes.free((pool_id, node_id))
        self.nodes.seen((pool_id, node_id), state, sent_at, time.monotonic())
        if state is not None and (state in ACCEPTING_STATES or not busy):
            self.oracle.note_state(pool_id, node_id, state)
        return state

    def canonical(self, request: Request) -> tuple[str, str]:
        """The (pool ID, node ID) a reimage request addresses, spelled as the inventory spells them."""
        pool_id, node_id = reimage_target(request) or (request.pool_id, request.node_id)
        pool = self.inventory.pool(pool_id)
        node = pool.node(node_id) if pool else None
        return (pool.id if pool else pool_id), (node.id if node else node_id)

    def _node_view(self, request: Request, *, tasks_of_pool: bool) -> NodeView | None:
        """Get Node (and, after a 202, Get Pool's queued tasks, where served): state and task states. Read with
        the inventory's spelling of the IDs: observing never repeats the request's variant spelling."""
        pool_id, node_id = self.canonical(request)
        pool_path = f"/pools/{quote(pool_id, safe='')}"
        node = self.get_json(f"{pool_path}/nodes/{quote(node_id, safe='')}")
        if not isinstance(node, dict):
            return None
        tasks = [t for t in node.get("recentTasks") or [] if isinstance(t, dict)]
        pool = self.get_json(pool_path) if tasks_of_pool else None
        if isinstance(pool, dict):
            tasks += [t for t in pool.get("queuedTasks") or [] if isinstance(t, dict)]
        state, when = node.get("state"), node.get("stateTransitionTime")
        return NodeView(state if isinstance(state, str) else None, when if isinstance(when, str) and when else None,
                        tuple(TaskView(str(task_id), str(t.get("taskState", t.get("state")))) for t in tasks
                              if (task_id := t.get("taskId", t.get("id"))) is not None))

    # --- one requirement ---------------------------------------------------------------------
    def check_requirement(self, requirement_id: str) -> RequirementResult:
        """Run the requirement's property; the result says pass, fail, error, undecided or not applicable,
        and why."""
        result = self.run.requirements[requirement_id]
        if self.stopped:  # what exchanges before the stop decided stands; else undecided, saying why
            result.settle(f"the run stopped sending ({self.stopped})", remedy=STOP_REMEDY)
            return result
        if self._inapplicable(result):
            return result
        started = time.monotonic()
        result.undecided("")  # started: no longer "not run"
        self.current = requirement_id
        try:
            self._run_property(requirement_id, result)
        except Exception as err:  # a bug in the suite is a harness error, never a pass or a target failure
            result.error(f"suite error: {type(err).__name__}: {err}")
            self.run.harness_errors.append(f"{requirement_id}: {result.reason}")
        finally:
            result.duration = time.monotonic() - started
            self.current = ""
        return result

    def _inapplicable(self, result: RequirementResult) -> bool:
        """Settle a requirement that cannot apply to this target (not applicable) or whose precondition is not
        known (undecided, saying what would decide it); False when its property should run."""
        category = result.requirement.category
        if category == "sdk" and self.target.name != "sdk":
            result.not_applicable("applies only to an SDK target (--target sdk@VERSION+URL)")
            return True
        home = checks.CHECKS.get(result.requirement.id) if result.requirement.id in checks.CHECKS else None
        if home is not None and home.simultaneous:
            why = races.burst_inapplicable(self)
            if why:
                result.not_applicable(why)
                return True
        if category != "auth" or self.oracle.auth_enforced:
            return False
        if self.oracle.auth_enforced is False:
            result.not_applicable(self.oracle.auth_evidence or "the run was told the target does not authenticate "
                                  "(the embedded emulator runs without --auth)")
        else:
            result.undecided("the target is not known to enforce authentication, and none of its answers showed "
                             "whether it does", remedy="give --auth sharedkey|entra|bearer (with its credentials) "
                             "for a target that enforces authentication")
        return True

    def _examples(self, requirement_id: str, result: RequirementResult) -> hsettings:
        """The property's Hypothesis settings: the profile's, topped up: a requirement judged on every exchange that
        other properties' exchanges already decided (and never broke) generates only what it still lacks of the
        profile's count. Simultaneous reimages are not shrunk (each replay costs reimages and a wait)."""
        profile = hsettings.get_profile(f"batch-conformance-{self.settings.profile}")
        chosen = profile
        if is_passive(requirement_id) and result.examples and not result.failures:
            lacking = profile.max_examples - result.examples
            chosen = hsettings(profile, max_examples=lacking) if lacking > 0 else \
                hsettings(profile, phases=(Phase.explicit,))
        if checks.CHECKS.get(requirement_id).simultaneous:
            chosen = hsettings(chosen, phases=tuple(p for p in chosen.phases if p != Phase.shrink))
        return chosen

    def _run_property(self, requirement_id: str, result: RequirementResult) -> None:
        last = _Attempt()
        tally = _Tally()
        broken: list[HarnessError] = []  # the network broke: the rest of the property (shrinking) sends nothing
        home = checks.CHECKS.get(requirement_id)
        observe = bool(home.observes)
        strategy = checks.requests_for(requirement_id, inventory=self.inventory, api_version=self.settings.api_version)

        settings_ = self._examples(requirement_id, result)
        enough = max(PROFILE_EXAMPLES["quick"], settings_.max_examples // 5)
        examples = checks.examples_for(requirement_id, inventory=self.inventory, api_version=self.settings.api_version)

        @hsettings(settings_)
        @hypothesis_seed(self.settings.seed)
        @given(strategy)
        def prop(request: Request) -> None:
            # once a fifth of its examples (at least the quick profile's count) were accepted, or its requirement was
            # decided that often, a property stops rather than wait for a node still reimaging: waiting would only
            # add confidence, at a reimage's pace (a failure is shrunk whatever it waits)
            # (the embedded emulator's 50 ms reimage is always worth waiting for)
            self.may_wait = self.settings.embedded or bool(result.failures) or (
                tally.accepted < enough and result.examples < enough)
            if broken:
                raise broken[0]
            try:
                exchange = races.burst(self, request, home.simultaneous) if home.simultaneous else \
                    self.exchange(request, observe_node=observe)
            except nodes.WouldWait:
                raise _StopGenerating from None
            except Withheld as why:
                tally.withheld.append(str(why))
                if not tally.sent and len(tally.withheld) >= settings_.max_examples:
                    raise _StopGenerating from None
                reject()
            except NotExpressible as why:
                tally.inexpressible.append(str(why))
                reject()
            except HarnessError as err:
                broken.append(err)
                raise
            tally.sent += 1
            tally.accepted += exchange.response.status == 202
            self.judge_passively(requirement_id, exchange)
            try:
                decided = checks.evaluate(requirement_id, exchange)
            except RequirementFailure as failure:
                result.broke()
                last.exchange, last.failure = exchange, failure
                raise
            if decided:
                result.met()
            elif is_transient(exchange.response):
                tally.transient += 1
            elif races.too_quick(exchange):
                tally.quick += 1

        flaky = False
        for request in examples:
            prop = example(request)(prop)
        try:
            if Phase.generate in settings_.phases or examples:
                prop()
        except HarnessError as err:
            if not self.stopped:
                result.error(str(err))
                self.run.harness_errors.append(f"{requirement_id}: {err}")
                return
        except RequirementFailure:
            pass
        except Flaky:
            flaky = True  # the target failed once and not on replay: still a real violation
        except (Unsatisfiable, _StopGenerating):
            pass
        finally:
            self.may_wait = True
        if last.exchange is not None and last.failure is not None:
            # the property's own, shrunk, example replaces one met on another requirement's exchange
            result.fail(describe_failure(last.exchange, last.failure, self.settings, flaky=flaky), replace=True)
        elif self.stopped:  # what the examples before the stop decided stands; else undecided, saying why
            result.settle(f"the run stopped sending ({self.stopped})", remedy=STOP_REMEDY)
        elif tally.inexpressible and not tally.withheld and not result.examples:
            result.not_applicable(f"{self.target.name} target: every deciding input is one it cannot send "
                                  f"({sorted(set(tally.inexpressible))[0]})")
        else:
            result.settle(*undecided_because(tally.withheld, tally.transient, self.inventory, quick=tally.quick))


def undecided_because(withheld: list[str], transient: int, inventory: Inventory, *, quick: int = 0) -> tuple[str, str]:
    """Why nothing decided a requirement, and what would decide it."""
    if withheld:
        why = sorted(set(withheld))[0]
        return f"every deciding request was withheld ({why})", remedy_for(why)
    if quick:
        return races.TOO_QUICK.format(n=quick), races.TOO_QUICK_REMEDY
    if transient:
        return (f"only answers that decide nothing came back ({transient} times 503 ServerBusy, 500 "
                "OperationTimedOut or 429 after retries)", "rerun when the target is not busy, or lower --rate")
    if not any(n.expendable for p in inventory.pools for n in p.nodes):
        return ("no generated exchange could decide it: the inventory marks no node expendable, so no request "
                "that could be accepted is generated", 'mark nodes "expendable": true in --inventory')
    return ("no generated exchange could decide it against this target",
            "a larger --profile, or an inventory holding the inputs it needs (a node in that state, a pool of "
            "that configuration)")


NOT_RUN = "not run"
STOP_REMEDY = "a run that is not stopped (a larger --max-duration, a target that answers, no interruption)"


def new_run(settings: Settings, target_label: str, suite_version: str,
            selected: frozenset[str] | None = None) -> RunResult:
    """A RunResult holding the requirements whose tests were collected (catalogue order), none yet run."""
    run = RunResult(target=target_label, api_version=settings.api_version, seed=settings.seed,
                    profile=settings.profile, suite_version=suite_version, config=settings.public())
    for rid, requirement in catalogue().items():
        if (settings.only and rid not in settings.only) or (selected is not None and rid not in selected):
            continue
        if requirement.category == "spec-driven" and not settings.schemathesis:
            continue  # switched off by the user, like a requirement --only leaves out
        run.requirements[rid] = RequirementResult(requirement, reason=NOT_RUN)
    return run


def close_run(run: RunResult, why: str) -> None:
    """A requirement that never ran (the run was interrupted or stopped early) is an error, never a pass."""
    for result in run.requirements.values():
        if result.status == "undecided" and result.reason == NOT_RUN:
            if run.stopped:
                result.settle(f"the run stopped sending ({run.stopped})", remedy=STOP_REMEDY)
            else:
                result.error(f"not run: {why}")
