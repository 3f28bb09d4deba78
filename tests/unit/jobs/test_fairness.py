from modules.jobs.fairness import OwnerTurn, next_owner


def simulate(queued: dict[str, int]) -> list[str]:
    """Run the scheduler over owners' queued job counts (submitted in dict order)."""
    waiting: dict[str, list[int]] = {}
    for owner, count in queued.items():
        start = sum(len(seqs) for seqs in waiting.values())
        waiting[owner] = list(range(start, start + count))
    last_served: dict[str, int] = {}
    order = []
    for served in range(1, sum(queued.values()) + 1):
        turns = [OwnerTurn(owner, seqs[0], last_served.get(owner)) for owner, seqs in waiting.items() if seqs]
        owner = next_owner(turns).owner
        waiting[owner].pop(0)
        last_served[owner] = served
        order.append(owner)
    return order


def test_round_robin_across_owners_and_the_busiest_owner_finishes_last():
    assert simulate({"A": 5, "B": 2, "C": 1}) == ["A", "B", "C", "A", "B", "A", "A", "A"]


def test_owner_never_served_goes_before_owners_served_already():
    turns = [OwnerTurn("old", oldest_seq=1, last_served=7), OwnerTurn("new", oldest_seq=9, last_served=None)]
    assert next_owner(turns).owner == "new"


def test_least_recently_served_owner_goes_next_regardless_of_submission_order():
    turns = [OwnerTurn("a", oldest_seq=1, last_served=5), OwnerTurn("b", oldest_seq=20, last_served=3)]
    assert next_owner(turns).owner == "b"


def test_ties_between_new_owners_go_to_the_longest_waiting_job():
    turns = [OwnerTurn("late", oldest_seq=4, last_served=None), OwnerTurn("early", oldest_seq=2, last_served=None)]
    assert next_owner(turns).owner == "early"


def test_nothing_waiting_gives_none():
    assert next_owner([]) is None
