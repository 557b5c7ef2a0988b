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
from conformance.config import Settings, parse_target
from conformance.diff import sdk as sdk_diff
from conformance.diff.classify import Side, changes_between, classify, normalise, touches, unsent
from conformance.diff.report import CaseDiff, DiffResult, change_key, write_diff_reports
from conformance.inventory import Inventory, default_inventory, load_inventory
from conformance.models import HarnessError, Request, Response, UsageError
from conformance.oracle import Oracle
from conformance.reporting.har import TrafficRecorder
from conformance.rules import ACCEPTING_STATES, reimage_target
from conformance.run.discovery import discover_inventory
from conformance.run.plugin import add_shared_arguments, run_settings
from conformance.run.safety import LiveSafety, Planned, Withheld
from conformance.run.session import PROFILE_EXAMPLES
from conformance.run.setup import (
    auth_enforced,
    open_embedded,
    open_target,
    prepare_sdk,
    register_env_secrets,
)
from conformance.spec import ApiVersion, SdkChange, catalogue, sdk, version, versions
from conformance.targets.base import NotExpressible, Target
from conformance.targets.sdk_call import SdkRefused

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
# The categories whose requests the diff replays (auth needs a signer; the response/error shapes are
# exercised by the same requests).
CATEGORIES = ("semantics",)
# diff's own defaults, below the config file, the environment and the flags
DEFAULTS = {"profile": "quick", "report_dir": "reports/diff"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The diff flags: its own (versions, the two targets), then run's target, auth, configuration, live-safety,
    rate, timeout and --record options, from the same table and turned into settings the same way."""
    add = parser.add_argument
    add("--from", dest="from_version", required=True, metavar="V1", help="the api-version upgraded from")
    add("--to", dest="to_version", required=True, metavar="V2", help="the api-version upgraded to")
    add("--target-from", metavar="URL", help="the target answering at --from (with --target-to); may be "
                                             "sdk@VERSION+URL")
    add("--target-to", metavar="URL", help="the target answering at --to (with --target-from); may be sdk@VERSION+URL")
    add_shared_arguments(parser, only_shared=True)


@dataclass(frozen=True)
class Plan:
    """The diff's validated options: the shared Settings, plus the two versions and the target of each side."""

    settings: Settings
    v1: ApiVersion
    v2: ApiVersion
    target_from: str | None
    target_to: str | None

    @property
    def embedded(self) -> bool:
        """Whether both sides are the embedded emulator."""
        return self.target_from is None

    @property
    def shared(self) -> bool:
        """Whether one target state answers both versions (one base URL, whether or not through SDKs)."""
        if self.target_from is None or self.target_to is None:
            return True
        return parse_target(self.target_from).url == parse_target(self.target_to).url

    @property
    def report_dir(self) -> Path:
        """Where diff.json, junit.xml and report.html go."""
        return Path(self.settings.report_dir)

    def side(self, index: int) -> tuple[ApiVersion, str | None]:
        """One side's api-version and target."""
        return (self.v1, self.target_from) if index == 0 else (self.v2, self.target_to)


def plan_from(args: argparse.Namespace) -> Plan:
    """Validate the flags into a Plan (through run's settings code); UsageError names the offending flag."""
    try:
        v1, v2 = version(args.from_version), version(args.to_version)
    except ValueError as err:
        raise UsageError(f"--from/--to: {err}") from None
    settings = run_settings(args, defaults=DEFAULTS)
    if settings.target and (args.target_from or args.target_to):
        raise UsageError("give either --target or --target-from with --target-to, not both")
    if bool(args.target_from) != bool(args.target_to):
        raise UsageError("--target-from and --target-to go together")
    if settings.emulator_fault and args.target_from:
        raise UsageError("--emulator-fault applies only to the embedded emulator (drop --target-from/--target-to)")
    one = settings.target or args.target_from
    plan = Plan(settings, v1, v2, one, settings.target or args.target_to)
    for index, flag in ((0, "--target-from"), (1, "--target-to")):
        data, text = plan.side(index)
        release = parse_target(text, "--target" if settings.target else flag).sdk if text else None
        if release is not None and sdk(release).api_version != data.id:
            raise UsageError(f"{text}: azure-batch {release} speaks only api-version {sdk(release).api_version}, "
                             f"not {data.id} (an SDK target answers one side: give --target-from and --target-to)")
    return plan


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
    if plan.settings.only:
        chosen = [rid for rid in plan.settings.only if rid in catalogue()]
    out = [checks.requests_for(rid, inventory=inventory, api_version=gen) for rid in chosen]
    if not plan.settings.only:
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
    examples = PROFILE_EXAMPLES[plan.settings.profile]
    seen: dict[tuple[Request, Request], Request] = {}
    for gen in dict.fromkeys((plan.v1.id, plan.v2.id)):
        for strategy in _strategies(plan, inventory, gen):
            for request in _gather(strategy, examples, plan.settings.seed):
                seen.setdefault((at_version(request, plan.v1), at_version(request, plan.v2)), request)
    return list(seen.values())


# --- sending ------------------------------------------------------------------------------------
@dataclass
class _Pair:
    """The two sides of a diff: targets and oracles (one state when one target answers both)."""

    plan: Plan
    inventory: Inventory
    targets: tuple[Target, Target]
    recorder: TrafficRecorder | None = None
    oracles: tuple[Oracle, Oracle] = field(init=False)
    # Nodes a 202 of this diff left in an unknown or busy state, per side: their 202/409 says nothing.
    unsettled: tuple[set[tuple[str, str]], set[tuple[str, str]]] = field(default_factory=lambda: (set(), set()))
    safety: LiveSafety = field(init=False)

    def __post_init__(self) -> None:
        settings, embedded = self.plan.settings, self.plan.embedded
        served = frozenset(versions()) if embedded else None
        auth = auth_enforced(settings, embedded=embedded)
        self.oracles = (Oracle(self.inventory, self.plan.v1.id, served_versions=served, auth_enforced=auth),
                        Oracle(self.inventory, self.plan.v2.id, served_versions=served, auth_enforced=auth))
        self.safety = LiveSafety.from_settings(settings, self.inventory, embedded=embedded)

    def planned(self, index: int, request: Request) -> Planned:
        """The request as sent at one side, what that side's oracle expects, and how to read its node there."""
        sent = at_version(request, (self.plan.v1, self.plan.v2)[index])
        return Planned(sent, self.oracles[index].expect(sent), lambda pool, node: self._read_state(index, pool, node))

    def _send(self, index: int, request: Request) -> Response:
        target = self.targets[index]
        response = target.send(request)
        if self.recorder is not None:
            self.recorder.add(getattr(target, "last_sent", None) or request, response, target.base_url)
        return response

    def _read_state(self, index: int, pool_id: str, node_id: str) -> str | None:
        data = (self.plan.v1, self.plan.v2)[index]
        get = Request(pool_id, node_id, method="GET", query=(("api-version", data.id),),
                      path=f"/pools/{quote(pool_id, safe='')}/nodes/{quote(node_id, safe='')}")
        answer = self._send(index, get)
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
        state again (live safety first watches a real node until it is idle). An SDK that raises before sending
        is a side too: what its caller meets."""
        sent = planned.request
        # what this side's oracle expects now: the other side's answer may have changed the node's state
        planned = replace(planned, expectation=self.oracles[index].expect(sent))
        data = (self.plan.v1, self.plan.v2)[index]
        try:
            response = self._send(index, sent)
        except SdkRefused as refused:
            return Side(data, sent, unsent(refused.call), planned.expectation)
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
        return Side(data, sent, normalise(response), planned.expectation)


def _sdk_between(plan: Plan) -> list[SdkChange]:
    releases = [parse_target(t).sdk for t in (plan.target_from, plan.target_to) if t]
    if len(releases) != 2 or None in releases:
        return []
    return sdk_diff.changes_between(str(releases[0]), str(releases[1]))


def run_cases(pair: _Pair, cases: list[Request], result: DiffResult) -> None:
    """Send every case at both versions and record each classified difference."""
    between = changes_between(pair.plan.v1.id, pair.plan.v2.id)
    sdk_between = _sdk_between(pair.plan)
    for request in cases:
        sides = [pair.planned(0, request), pair.planned(1, request)]
        try:
            for target, side in zip(pair.targets, sides, strict=True):
                target.express(side.request)  # both sides can send it, or neither is sent
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
        if not (a.observed.sent or b.observed.sent):
            result.withheld.append("neither SDK sent the request (both raised before sending)")
            continue
        result.compared += 1
        for change in between:
            if touches(change, a.request, pair.inventory, a.version, b.version):
                result.touched[change_key(change)] = result.touched.get(change_key(change), 0) + 1
        seen = [s.observed.sdk for s in (a, b) if s.observed.sdk is not None]
        for sdk_change in sdk_between:
            if sdk_diff.touches(sdk_change, (a.request, b.request), seen):
                result.touched[change_key(sdk_change)] = result.touched.get(change_key(sdk_change), 0) + 1
        verdict = classify(a, b, between, pair.inventory, unsettled=unsettled, sdk_between=sdk_between)
        if verdict is not None:
            result.differences.append(CaseDiff(a, b, verdict))


@contextlib.contextmanager
def open_pair(plan: Plan) -> Iterator[_Pair]:
    """Start the embedded emulator (or open the targets, as run opens its one) and pair the two sides."""
    register_env_secrets()
    settings = plan.settings
    inventory = load_inventory(settings.inventory) if settings.inventory else None
    recorder = TrafficRecorder(settings.record) if settings.record else None
    with contextlib.ExitStack() as stack:
        if recorder is not None:
            stack.callback(recorder.write)
        if plan.embedded:
            # an instant reimage: the diff compares answers, and reads a node back once (no settling)
            first = second = stack.enter_context(open_embedded(settings, inventory or default_inventory(),
                                                               reimage_seconds=0.0))
        else:
            assert plan.target_from is not None and plan.target_to is not None
            first = stack.enter_context(open_target(replace(settings, api_version=plan.v1.id), plan.target_from))
            second = first
            if plan.target_to != plan.target_from:
                second = stack.enter_context(open_target(replace(settings, api_version=plan.v2.id), plan.target_to))
        if inventory is None:
            inventory = default_inventory() if plan.embedded else discover_inventory(first, plan.v1.id)
        yield _Pair(plan, inventory, (first, second), recorder)


def main(args: argparse.Namespace) -> int:
    """Run the diff; exit 1 on an unexpected difference, 2 on a usage or harness error, else 0."""
    plan = plan_from(args)
    settings = plan.settings
    if settings.inventory:
        load_inventory(settings.inventory)  # a malformed inventory is a usage error before anything runs
    for text in (plan.target_from, plan.target_to):
        if text:
            prepare_sdk(text)  # an SDK release that cannot be installed: one line, before anything is sent
    try:
        plan.report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create --report-dir {plan.report_dir}: {err.strerror}") from None
    labels = ("embedded emulator", "embedded emulator") if plan.embedded else (plan.target_from, plan.target_to)
    result = DiffResult(plan.v1.id, plan.v2.id, (str(labels[0]), str(labels[1])), settings.seed, settings.profile,
                        settings.emulator_fault, [*changes_between(plan.v1.id, plan.v2.id), *_sdk_between(plan)])
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
