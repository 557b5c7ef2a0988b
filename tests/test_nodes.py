"""The node book: a reimaged node is read at once, then with a backoff; requests rotate off nodes still reimaging;
every reimage is measured. Driven by a fake clock, so no test waits."""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.run.nodes import FIRST_BACKOFF, MAX_BACKOFF, NodeBook

A, B, C = ("pool", "a"), ("pool", "b"), ("pool", "c")


@dataclass
class FakeTarget:
    """Nodes that reimage for a given time on a fake clock; reads are counted."""

    seconds: float
    now: float = 0.0
    until: dict[tuple[str, str], float] = field(default_factory=dict)
    reads: list[tuple[float, tuple[str, str]]] = field(default_factory=list)
    book: NodeBook | None = None
    answers: bool = True  # whether Get Node answers a state

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def reimage(self, node: tuple[str, str]) -> None:
        assert self.book is not None
        self.until[node] = self.now + self.seconds
        self.book.accepted(node, self.now, self.now)

    def read(self, pool: str, node_id: str) -> str | None:
        assert self.book is not None
        node = (pool, node_id)
        self.reads.append((self.now, node))
        state = ("reimaging" if self.now < self.until.get(node, 0.0) else "idle") if self.answers else None
        self.book.seen(node, state, self.now, self.now)
        return state


def _book(seconds: float, *, watch: float = 900.0, answers: bool = True) -> tuple[NodeBook, FakeTarget]:
    target = FakeTarget(seconds, answers=answers)
    book = NodeBook(watch, clock=target.clock, sleep=target.sleep)
    target.book = book
    return book, target


def test_node_book_reads_back_at_once_then_doubling_backoff_capped() -> None:
    book, target = _book(100.0)
    target.reimage(A)
    target.read(*A)  # the read at once after the 202
    book.finish(target.read)
    gaps = [b - a for (a, _), (b, _) in zip(target.reads, target.reads[1:], strict=False)]
    assert [round(g, 6) for g in gaps[:3]] == [FIRST_BACKOFF, 2 * FIRST_BACKOFF, 4 * FIRST_BACKOFF]
    assert round(max(gaps), 6) == MAX_BACKOFF and target.reads[-1][0] >= 100.0


def test_node_book_measures_each_reimage_between_last_busy_and_first_idle_read() -> None:
    book, target = _book(0.3)
    target.reimage(A)
    target.read(*A)
    book.finish(target.read)
    low, high = book.tracks[A].reimages[0].bounds()
    assert low < 0.3 <= high and high - low <= 0.3  # reads at 0, 0.05, 0.15, 0.35
    assert book.report()["pool/a"] == {"reimages": 1, "seconds": [[round(low, 3), round(high, 3)]],
                                       "still_reimaging": False, "second_reimages": 0}


def test_node_book_busy_drawn_node_rotates_to_free_one_without_waiting() -> None:
    book, target = _book(5.0)
    target.reimage(A)
    target.read(*A)
    assert book.choose(A, [B, C], target.read) == B and target.now == 0.0


def test_node_book_least_recently_reimaged_free_node_chosen() -> None:
    book, target = _book(0.0)
    for node in (B, C):
        target.reimage(node)
        target.read(*node)
        target.now += 1.0
    target.seconds = 100.0
    target.reimage(A)  # A still reimaging
    target.read(*A)
    assert book.choose(A, [C, B], target.read) == B


def test_node_book_every_node_reimaging_waits_for_the_first_due() -> None:
    book, target = _book(0.3)
    for node in (A, B):
        target.reimage(node)
        target.read(*node)
    assert book.choose(A, [B], target.read) in (A, B) and 0.3 <= target.now < 0.5


def test_node_book_no_get_node_never_waits_returns_none() -> None:
    book, target = _book(0.3, answers=False)
    target.reimage(A)
    target.read(*A)
    assert book.get_node is False and book.choose(A, [], target.read) is None and target.now == 0.0


def test_node_book_watch_time_passed_node_given_up_not_chosen() -> None:
    book, target = _book(1000.0, watch=2.0)
    target.reimage(A)
    target.read(*A)
    book.finish(target.read)
    assert book.tracks[A].gave_up and not book.free(A) and target.now < 20.0
    assert book.report()["pool/a"]["still_reimaging"] is True


def test_node_book_settle_stops_once_seen_reimaging_at_until() -> None:
    book, target = _book(10.0)
    target.reimage(A)
    target.read(*A)
    seen = book.settle(A, target.read, until=0.2)
    assert seen is not None and seen >= 0.2 and target.now < 1.0 and book.tracks[A].busy


def test_rotated_request_with_an_explicit_path_addresses_the_new_node() -> None:
    from conformance.models import Request
    from conformance.run.nodes import _with_node

    request = Request("pool-cs", "idle-1", query=(("api-version", "v"),), path="/pools/pool-cs/nodes/idle-1/reimage")
    moved = _with_node(request, "idle 2")
    assert moved.node_id == "idle 2" and moved.target_path == "/pools/pool-cs/nodes/idle%202/reimage"


def test_node_book_learns_the_reimage_length_and_reads_back_close_to_it() -> None:
    book, target = _book(0.3)
    overshoot = []
    for _ in range(10):
        target.reimage(A)
        target.read(*A)
        book.finish(target.read)
        overshoot.append(book.tracks[A].reimages[-1].idle_by - 0.3 - book.tracks[A].reimages[-1].accepted_at)
        target.now += 1.0
    assert round(overshoot[0], 6) == 0.05 and max(overshoot[-3:]) < 0.011  # 0.35 with the backoff alone


def test_node_book_reimages_of_different_lengths_fall_back_to_the_backoff() -> None:
    book, target = _book(0.3)
    for seconds in (0.3, 0.02, 1.0):
        target.seconds = seconds
        target.reimage(A)
        target.read(*A)
        book.finish(target.read)
        target.now += 2.0
    assert book.low > (book.high or 0.0)  # the bounds crossed: nothing learned is used
    target.seconds = 0.3
    target.reimage(A)
    target.read(*A)
    book.finish(target.read)
    assert round(book.tracks[A].reimages[-1].idle_by - book.tracks[A].reimages[-1].accepted_at, 6) == 0.35
