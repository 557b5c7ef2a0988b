"""`batch-conformance diff`: the same generated cases at two api-versions, every difference classified."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hsettings
from hypothesis.strategies import SearchStrategy

from conformance import checks, strategies
from conformance.config import PROFILES, Settings
from conformance.diff.classify import Side, changes_between, classify, normalise, touches
from conformance.diff.report import CaseDiff, DiffResult, change_key, write_diff_reports
from conformance.inventory import Inventory, default_inventory, load_inventory
from conformance.models import HarnessError, Request, UsageError
from conformance.oracle import Oracle
from conformance.rules import ACCEPTING_STATES, reimage_target
from conformance.run.safety import LiveSafety, Planned, Withheld
from conformance.run.session import PROFILE_EXAMPLES
from conformance.spec import ApiVersion, catalogue, version, versions
from conformance.targets.base import NotExpressible, Target
from conformance.targets.http import HttpTarget

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
# The categories whose requests the diff replays (auth needs a signer; the response/error shapes are
# exercised by the same requests).
CATEGORIES = ("semantics",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The diff flags."""
    add = parser.add_argument
    add("--from", dest="from_version", required=True, metavar="V1", help="the api-version upgraded from")
    add("--to", dest="to_version", required=True, metavar="V2", help="the api-version upgraded to")
    add("--target", help="one target serving both versions (default: the embedded emulator)")
    add("--target-from", help="the target answering at --from (with --target-to)")
    add("--target-to", help="the target answering at --to (with --target-from)")
    add("--inventory", help="the targets' pools and nodes (default: built-in, or discovered)")
    add("--profile", default="quick", help=f"examples per requirement: {', '.join(PROFILES)}")
    add("--seed", type=int, default=0, help="the Hypothesis seed: the same seed sends the same cases")
    add("--report-dir", default="reports/diff", help="where diff.json, junit.xml and report.html go")
    add("--emulator-fault", help="start the embedded emulator with this fault (no --target)")
    add("--only", action="append", metavar="REQUIREMENT", help="generate cases for these requirements only")
    add("--allow-destructive", action="store_true",
        help="remote targets: also send requests that could really reimage an expendable node")
    add("--max-reimages", type=int, default=1, help="remote targets: at most this many possible reimages")
    add("--rate", type=float, help="remote targets: at most this many requests per second")
    add("--request-timeout", type=float, default=30.0, help="seconds to wait for one answer")
    add("--watch-seconds", type=float, default=Settings.watch_seconds,
        help="remote targets: after a real reimage, how long Get Node is watched until the node is idle again")


@dataclass(frozen=True)
class Plan:
    """The diff's validated options."""

    v1: ApiVersion
    v2: ApiVersion
    target_from: str | None
    target_to: str | None
    inventory: str | None
    profile: str
    seed: int
    report_dir: Path
    emulator_fault: str | None
    only: tuple[str, ...]
    allow_destructive: bool
    max_reimages: int
    rate: float | None
    request_timeout: float
    watch_seconds: float

    @property
    def embedded(self) -> bool:
        """Whether both sides are the embedded emulator."""
        return self.target_from is None

    @property
    def shared(self) -> bool:
        """Whether one target (one state) answers both versions."""
        return self.target_from == self.target_to


def plan_from(args: argparse.Namespace) -> Plan:
    """Validate the flags into a Plan; UsageError names the offending flag."""
    try:
        v1, v2 = version(args.from_version), version(args.to_version)
    except ValueError as err:
        raise UsageError(f"--from/--to: {err}") from None
    if args.target and (args.target_from or args.target_to):
        raise UsageError("give either --target or --target-from with --target-to, not both")
    if bool(args.target_from) != bool(args.target_to):
        raise UsageError("--target-from and --target-to go together")
    one = args.target or args.target_from
    if args.emulator_fault and one:
        raise UsageError("--emulator-fault applies only to the embedded emulator (drop --target)")
    for url in filter(None, (args.target, args.target_from, args.target_to)):
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"target {url!r}: give an http(s):// URL")
    if args.profile not in PROFILES:
        raise UsageError(f"--profile {args.profile!r}: choose one of {', '.join(PROFILES)}")
    unknown = [rid for rid in args.only or () if rid not in catalogue()]
    if unknown:
        raise UsageError(f"--only {', '.join(unknown)}: not a requirement ID of the catalogue")
    if args.max_reimages < 0:
        raise UsageError("--max-reimages must be 0 or more")
    return Plan(v1, v2, one, args.target or args.target_to, args.inventory, args.profile, args.seed,
                Path(args.report_dir), args.emulator_fault, tuple(args.only or ()), args.allow_destructive,
                args.max_reimages, args.rate, args.request_timeout, args.watch_seconds)


# --- cases --------------------------------------------------------------------------------------
def _gather(strategy: SearchStrategy[Request], examples: int, seed: int) -> list[Request]:
    found: list[Request] = []

    @hsettings(max_examples=examples, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
               suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(strategy)
    def collect(request: Request) -> None:
        found.append(request)

    collect()
    return found


def _strategies(plan: Plan, inventory: Inventory, gen: str) -> list[SearchStrategy[Request]]:
    chosen = [rid for rid, r in catalogue().items() if r.category in CATEGORIES]
    if plan.only:
        chosen = [rid for rid in plan.only if rid in catalogue()]
    out = [checks.requests_for(rid, inventory=inventory, api_version=gen) for rid in chosen]
    if not plan.only:
        out.append(strategies.reimage_requests(inventory=inventory, api_version=gen))
    return out


def at_version(request: Request, data: ApiVersion) -> Request:
    """The request as sent at an api-version: a real api-version replaced, timeout spelled per version."""
    known = versions()
    spellings = {v.timeout_param for v in known.values()}
    query = []
    for key, value in request.query:
        if key == "api-version" and value in known:
            value = data.id
        elif key in spellings:
            key = data.timeout_param
        query.append((key, value))
    return replace(request, query=tuple(query))


def generate_cases(plan: Plan, inventory: Inventory) -> list[Request]:
    """The seeded cases, drawn at both versions (each version's own inputs), without duplicates."""
    examples = PROFILE_EXAMPLES[plan.profile]
    seen: dict[tuple[Request, Request], Request] = {}
    for gen in dict.fromkeys((plan.v1.id, plan.v2.id)):
        for strategy in _strategies(plan, inventory, gen):
            for request in _gather(strategy, examples, plan.seed):
                seen.setdefault((at_version(request, plan.v1), at_version(request, plan.v2)), request)
    return list(seen.values())


# --- sending ------------------------------------------------------------------------------------
@dataclass
class _Pair:
    """The two sides of a diff: targets and oracles (one state when one target answers both)."""

    plan: Plan
    inventory: Inventory
    targets: tuple[Target, Target]
    oracles: tuple[Oracle, Oracle] = field(init=False)
    # Nodes a 202 of this diff left in an unknown or busy state, per side: their 202/409 says nothing.
    unsettled: tuple[set[tuple[str, str]], set[tuple[str, str]]] = field(default_factory=lambda: (set(), set()))
    safety: LiveSafety = field(init=False)

    def __post_init__(self) -> None:
        served = frozenset(versions()) if self.plan.embedded else None
        auth = False if self.plan.embedded else None
        self.oracles = (Oracle(self.inventory, self.plan.v1.id, served_versions=served, auth_enforced=auth),
                        Oracle(self.inventory, self.plan.v2.id, served_versions=served, auth_enforced=auth))
        self.safety = LiveSafety(self.plan.embedded, self.plan.allow_destructive, self.plan.max_reimages,
                                 self.plan.watch_seconds, self.inventory)

    def planned(self, index: int, request: Request) -> Planned:
        """The request as sent at one side, what that side's oracle expects, and how to read its node there."""
        sent = at_version(request, (self.plan.v1, self.plan.v2)[index])
        return Planned(sent, self.oracles[index].expect(sent), lambda pool, node: self._read_state(index, pool, node))

    def _read_state(self, index: int, pool_id: str, node_id: str) -> str | None:
        data = (self.plan.v1, self.plan.v2)[index]
        get = Request(pool_id, node_id, method="GET", query=(("api-version", data.id),),
                      path=f"/pools/{quote(pool_id, safe='')}/nodes/{quote(node_id, safe='')}")
        answer = self.targets[index].send(get)
        state = None
        if answer.status == 200:
            with contextlib.suppress(ValueError, AttributeError):
                state = answer.json().get("state")
        if not isinstance(state, str):
            return None
        for i in self._sharing(index):
            self.oracles[i].note_state(pool_id, node_id, state)
        return state

    def _sharing(self, index: int) -> list[int]:
        return [0, 1] if self.plan.shared else [index]

    def _node_key(self, request: Request) -> tuple[str, str] | None:
        target = reimage_target(request)
        if target is None:
            return None
        pool = self.inventory.pool(target[0])
        return ((pool.id if pool else target[0]).lower(), target[1])

    def unsettled_node(self, index: int, request: Request) -> bool:
        """Whether this request's node was left busy or unknown by an earlier 202 of this diff."""
        key = self._node_key(request)
        return key is not None and key in self.unsettled[index]

    def send(self, index: int, planned: Planned) -> Side:
        """Send at one side (admitted by live safety); after a 202, read the node back so the oracles know its
        state again (live safety first watches a real node until it is idle)."""
        sent = planned.request
        # what this side's oracle expects now: the other side's answer may have changed the node's state
        planned = replace(planned, expectation=self.oracles[index].expect(sent))
        response = self.targets[index].send(sent)
        for i in self._sharing(index):
            self.oracles[i].observe(sent, response)
        key = self._node_key(sent)
        if response.status == 202 and key is not None:
            self.safety.watch(planned, response)
            target = reimage_target(sent) or (sent.pool_id, sent.node_id)
            state = self._read_state(index, *target)
            for i in self._sharing(index):
                if state in ACCEPTING_STATES:
                    self.unsettled[i].discard(key)
                else:
                    self.unsettled[i].add(key)
        return Side((self.plan.v1, self.plan.v2)[index], sent, normalise(response), planned.expectation)


def run_cases(pair: _Pair, cases: list[Request], result: DiffResult) -> None:
    """Send every case at both versions and record each classified difference."""
    between = changes_between(pair.plan.v1.id, pair.plan.v2.id)
    for request in cases:
        sides = [pair.planned(0, request), pair.planned(1, request)]
        try:
            pair.safety.admit(*sides)
            # A node an earlier 202 left busy makes 202-against-409 meaningless; a 202 of this case's
            # second side does not (it came after both answers were decided).
            unsettled = pair.unsettled_node(0, sides[0].request) or pair.unsettled_node(1, sides[1].request)
            a = pair.send(0, sides[0])
            unsettled = unsettled or pair.unsettled_node(1, sides[1].request)
            b = pair.send(1, sides[1])
        except (Withheld, NotExpressible) as why:
            result.withheld.append(str(why))
            continue
        result.compared += 1
        for change in between:
            if touches(change, a.request, pair.inventory, a.version, b.version):
                result.touched[change_key(change)] = result.touched.get(change_key(change), 0) + 1
        verdict = classify(a, b, between, pair.inventory, unsettled=unsettled)
        if verdict is not None:
            result.differences.append(CaseDiff(a, b, verdict))


@contextlib.contextmanager
def open_pair(plan: Plan) -> Iterator[_Pair]:
    """Start the embedded emulator (or connect to the targets) and pair the two sides."""
    inventory = load_inventory(plan.inventory) if plan.inventory else None
    with contextlib.ExitStack() as stack:
        if plan.embedded:
            from conformance.emulator import EmbeddedEmulator

            emulator = EmbeddedEmulator(inventory=inventory or default_inventory(), api_versions=list(versions()),
                                        fault=plan.emulator_fault, reimage_seconds=0.0)
            stack.callback(emulator.stop)
            emulator.start()
            urls = (emulator.url, emulator.url)
        else:
            assert plan.target_from is not None and plan.target_to is not None
            urls = (plan.target_from, plan.target_to)
        first = HttpTarget(urls[0], timeout=plan.request_timeout, rate=plan.rate)
        stack.callback(first.close)
        second = first
        if urls[1] != urls[0]:
            second = HttpTarget(urls[1], timeout=plan.request_timeout, rate=plan.rate)
            stack.callback(second.close)
        if inventory is None:
            if plan.embedded:
                inventory = default_inventory()
            else:
                from conformance.run.setup import discover_inventory

                inventory = discover_inventory(first, plan.v1.id)
        yield _Pair(plan, inventory, (first, second))


def main(args: argparse.Namespace) -> int:
    """Run the diff; exit 1 on an unexpected difference, 2 on a usage or harness error, else 0."""
    plan = plan_from(args)
    try:
        plan.report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create --report-dir {plan.report_dir}: {err.strerror}") from None
    labels = ("embedded emulator", "embedded emulator") if plan.embedded else (plan.target_from, plan.target_to)
    result = DiffResult(plan.v1.id, plan.v2.id, (str(labels[0]), str(labels[1])), plan.seed, plan.profile,
                        plan.emulator_fault, changes_between(plan.v1.id, plan.v2.id))
    started = time.monotonic()
    try:
        with open_pair(plan) as pair:
            cases = generate_cases(plan, pair.inventory)
            run_cases(pair, cases, result)
    except HarnessError as err:
        result.harness_errors.append(str(err))
    result.duration = time.monotonic() - started
    write_diff_reports(result, plan.report_dir)
    print(result.summary_line() + f"; reports in {plan.report_dir}/ (diff.json, junit.xml, report.html)")
    return {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(result.verdict, EXIT_ERROR)
