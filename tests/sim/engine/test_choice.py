"""Choice policies, traces, replay and exhaustive exploration (sim/engine/choice.py)."""
import itertools
import math

import pytest

from sim.engine import (ChoiceTrace, Engine, ExplorationLimit, FirstPolicy, ReplayDivergence,
                        ReplayPolicy, SeededPolicy, SimulationError, explore)


# --- SeededPolicy ------------------------------------------------------------------
def _draw(policy, n_choices=200):
    # option counts cycle through 2..7 so the picks depend on more than one range
    return [policy.choose(2 + k % 6, f"c{k}") for k in range(n_choices)]


def test_seeded_same_seed_same_picks():
    assert _draw(SeededPolicy(123)) == _draw(SeededPolicy(123))
    assert _draw(SeededPolicy(0)) == _draw(SeededPolicy())


def test_seeded_different_seeds_differ():
    runs = {tuple(_draw(SeededPolicy(seed))) for seed in range(5)}
    assert len(runs) == 5


def test_seeded_picks_are_in_range_and_cover_the_options():
    pol = SeededPolicy(7)
    picks = [pol.choose(4, "x") for _ in range(400)]
    assert all(0 <= p < 4 for p in picks)
    assert set(picks) == {0, 1, 2, 3}


def test_policy_records_every_choice():
    pol = SeededPolicy(5)
    picks = _draw(pol, 10)
    assert pol.picks == picks
    assert pol.counts == [2 + k % 6 for k in range(10)]
    assert pol.whys == [f"c{k}" for k in range(10)]
    tr = pol.trace()
    assert tr.picks == tuple(picks) and tr.counts == tuple(pol.counts)
    assert tr.whys == tuple(pol.whys)
    assert tr.ties is False


def test_seeded_shuffle_ties_flag():
    assert SeededPolicy(1).choose_ties is False
    assert SeededPolicy(1, shuffle_ties=True).choose_ties is True
    assert SeededPolicy(1, shuffle_ties=True).trace().to_string() == "ties:"


def test_first_policy_always_picks_zero():
    pol = FirstPolicy()
    assert [pol.choose(n, "f") for n in (2, 3, 9)] == [0, 0, 0]
    assert pol.choose_ties is False
    assert FirstPolicy(choose_ties=True).choose_ties is True


# --- ChoiceTrace -------------------------------------------------------------------
def test_trace_to_string():
    assert ChoiceTrace(True, (1, 0), (2, 3)).to_string() == "ties:1/2,0/3"
    assert ChoiceTrace(False, (), ()).to_string() == "fifo:"
    assert str(ChoiceTrace(False, (4,), (5,))) == "fifo:4/5"
    assert len(ChoiceTrace(True, (1, 0, 2), (2, 3, 3))) == 3


@pytest.mark.parametrize("trace", [
    ChoiceTrace(True, (), ()),
    ChoiceTrace(False, (), ()),
    ChoiceTrace(True, (1, 0, 2), (2, 3, 3)),
    ChoiceTrace(False, (0, 11, 99), (2, 12, 100)),
])
def test_trace_round_trip(trace):
    text = trace.to_string()
    back = ChoiceTrace.from_string(text)
    assert back == trace
    assert back.to_string() == text


def test_trace_round_trip_ignores_whys_and_surrounding_space():
    tr = ChoiceTrace(True, (1,), (2,), ("tie",))
    back = ChoiceTrace.from_string("  " + tr.to_string() + "\n")
    assert back == tr          # whys are not compared
    assert back.whys == ()


def test_trace_from_string_parses_fields():
    tr = ChoiceTrace.from_string("ties:1/2,0/3,4/7")
    assert tr.ties is True
    assert tr.picks == (1, 0, 4)
    assert tr.counts == (2, 3, 7)
    assert ChoiceTrace.from_string("fifo:").ties is False


@pytest.mark.parametrize("text", ["", "1/2", "both:1/2", "TIES:1/2", "ties 1/2", "fifo"])
def test_trace_from_string_rejects_a_bad_mode(text):
    with pytest.raises(ValueError, match=r"must start with 'ties:' or 'fifo:'"):
        ChoiceTrace.from_string(text)


@pytest.mark.parametrize("text, index, item", [
    ("ties:1/1", 0, "1/1"),       # pick must be < count
    ("ties:3/2", 0, "3/2"),
    ("ties:a/2", 0, "a/2"),
    ("ties:1-2", 0, "1-2"),
    ("ties:-1/2", 0, "-1/2"),
    ("ties:1/", 0, "1/"),
    ("ties:/2", 0, "/2"),
    ("fifo:0/2,x", 1, "x"),
    ("fifo:0/2,1/3,2/2", 2, "2/2"),
])
def test_trace_from_string_rejects_a_bad_item(text, index, item):
    with pytest.raises(ValueError, match=rf"choice {index} of the trace is '{item}'.*PICK < COUNT"):
        ChoiceTrace.from_string(text)


# --- ReplayPolicy ------------------------------------------------------------------
def _workers_program(policy):
    """Three workers whose delays and values are choices; ties happen often."""
    eng = Engine(policy)
    recs = eng.start_trace()
    box = []

    def worker(name):
        for k in range(4):
            yield eng.choose([10, 20], "delay")
            v = eng.choose_index(5, "val")
            box.append(name)
            eng.log(name, "tick", k, v)
        return name

    def joiner(procs):
        got = []
        for p in procs:
            got.append((yield p))
        eng.log("join", "done", tuple(got), tuple(box))

    procs = [eng.spawn(worker(n)) for n in ("w0", "w1", "w2")]
    eng.spawn(joiner(procs))
    eng.run()
    return recs


def test_replay_reproduces_a_recorded_seeded_run():
    rec_policy = SeededPolicy(2024, shuffle_ties=True)
    recorded = _workers_program(rec_policy)
    trace = rec_policy.trace()
    text = trace.to_string()
    assert text.startswith("ties:")
    assert "tie" in trace.whys               # same-time order really was a choice
    assert {"delay", "val"} <= set(trace.whys)

    replay = ReplayPolicy(text)
    assert replay.choose_ties is True
    assert _workers_program(replay) == recorded
    assert replay.complete
    assert replay.picks == list(trace.picks)


def test_replay_from_a_trace_object_too():
    rec_policy = SeededPolicy(3)
    recorded = _workers_program(rec_policy)
    assert rec_policy.trace().to_string().startswith("fifo:")
    replay = ReplayPolicy(rec_policy.trace())
    assert replay.choose_ties is False
    assert _workers_program(replay) == recorded
    assert replay.complete


def test_recorded_runs_depend_on_the_seed():
    runs = {tuple(_workers_program(SeededPolicy(s, shuffle_ties=True))) for s in range(10)}
    assert len(runs) > 1


def test_replay_divergence_on_option_count():
    eng = Engine(ReplayPolicy("fifo:1/2"))
    with pytest.raises(ReplayDivergence, match=r"choice 0 \(q\) has 3 options but the trace recorded 2"):
        eng.choose_index(3, "q")


def test_replay_divergence_on_exhausted_trace():
    pol = ReplayPolicy("fifo:1/2")
    eng = Engine(pol)
    assert not pol.complete
    assert eng.choose_index(2, "a") == 1
    assert pol.complete
    with pytest.raises(ReplayDivergence, match=r"choice 1 \(b, 4 options\) is past the end"):
        eng.choose_index(4, "b")


def test_replay_divergence_inside_a_process_stops_the_run():
    eng = Engine(ReplayPolicy("fifo:"))

    def p():
        yield 5
        eng.choose_index(2, "inside")

    eng.spawn(p())
    with pytest.raises(ReplayDivergence, match="past the end"):
        eng.run()


def test_replay_on_exhausted_first_continues_with_zero():
    pol = ReplayPolicy("fifo:1/2,2/3", on_exhausted="first")
    eng = Engine(pol)
    got = [eng.choose_index(2, "a"), eng.choose_index(3, "b"),
           eng.choose_index(5, "c"), eng.choose_index(2, "d")]
    assert got == [1, 2, 0, 0]
    assert pol.picks == [1, 2, 0, 0]
    assert not pol.complete      # more choices were made than recorded


def test_replay_rejects_a_bad_on_exhausted():
    with pytest.raises(ValueError, match="on_exhausted"):
        ReplayPolicy("fifo:", on_exhausted="random")


def test_replay_rejects_a_malformed_string():
    with pytest.raises(ValueError, match="must start with"):
        ReplayPolicy("nonsense")


# --- explore -----------------------------------------------------------------------
def _binary_choices(k):
    def run_once(policy):
        eng = Engine(policy)
        out = []

        def p():
            for i in range(k):
                out.append(eng.choose_index(2, f"bit{i}"))
                yield 1

        eng.spawn(p())
        eng.run()
        return tuple(out)
    return run_once


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, 8])
def test_explore_k_binary_choices_visits_2_to_the_k(k):
    result = explore(_binary_choices(k), ties=False)
    assert result.executions == 2 ** k
    assert result.outcome_set == set(itertools.product((0, 1), repeat=k))
    assert all(n == 1 for n in result.outcomes.values())


def test_explore_mixed_arity_is_the_product():
    def run_once(policy):
        eng = Engine(policy)
        return tuple(eng.choose_index(n, f"n{n}") for n in (2, 3, 4))

    result = explore(run_once, ties=False)
    assert result.executions == 2 * 3 * 4
    assert result.outcome_set == set(itertools.product(range(2), range(3), range(4)))


def test_explore_dependent_choices_counts_leaves():
    # first choice 0 -> a 3-way choice (3 leaves); first choice 1 -> nothing (1 leaf)
    def run_once(policy):
        eng = Engine(policy)
        a = eng.choose_index(2, "a")
        if a == 0:
            return (a, eng.choose_index(3, "b"))
        return (a,)

    result = explore(run_once, ties=False)
    assert result.executions == 4
    assert result.outcome_set == {(0, 0), (0, 1), (0, 2), (1,)}


def test_explore_outcome_counts_many_to_one():
    # three binary choices, outcome = how many ones: C(3, j) executions each
    def run_once(policy):
        eng = Engine(policy)
        return sum(eng.choose_index(2, "b") for _ in range(3))

    result = explore(run_once, ties=False)
    assert result.executions == 8
    assert result.outcomes == {j: math.comb(3, j) for j in range(4)}


def _three_appenders(policy):
    eng = Engine(policy)
    out = []

    def p(i):
        out.append(i)
        yield from ()

    for i in range(3):
        eng.spawn(p(i))
    eng.run()
    return tuple(out)


def test_explore_three_same_time_processes_finds_all_orders():
    result = explore(_three_appenders, ties=True)
    assert result.outcome_set == set(itertools.permutations(range(3)))
    assert len(result.outcomes) == math.factorial(3) == 6
    # each process is two ready items (its start, then its completion event), so
    # the executions are the interleavings of three 2-chains: 6! / (2!)^3 = 90,
    # split evenly over the 6 orders of the starts
    assert result.executions == math.factorial(6) // 2 ** 3 == 90
    assert set(result.outcomes.values()) == {15}


def test_explore_witnesses_replay_to_their_outcome():
    result = explore(_three_appenders, ties=True)
    assert set(result.witnesses) == result.outcome_set
    for outcome, witness in result.witnesses.items():
        assert witness.ties is True
        pol = ReplayPolicy(witness.to_string())
        assert _three_appenders(pol) == outcome
        assert pol.complete


def test_explore_three_same_time_callbacks_is_exactly_3_factorial():
    # plain callbacks are one ready item each: exactly 3! executions
    def run_once(policy):
        eng = Engine(policy)
        out = []
        for i in range(3):
            eng.call_later(0, out.append, i)
        eng.run()
        return tuple(out)

    result = explore(run_once, ties=True)
    assert result.executions == 6
    assert result.outcome_set == set(itertools.permutations(range(3)))
    for outcome, witness in result.witnesses.items():
        assert run_once(ReplayPolicy(witness)) == outcome


def test_explore_without_ties_is_the_single_fifo_order():
    result = explore(_three_appenders, ties=False)
    assert result.executions == 1
    assert result.outcomes == {(0, 1, 2): 1}


def test_explore_max_executions():
    assert explore(_binary_choices(4), ties=False, max_executions=16).executions == 16
    with pytest.raises(ExplorationLimit, match="more than 15 executions"):
        explore(_binary_choices(4), ties=False, max_executions=15)


def test_explore_max_depth():
    assert explore(_binary_choices(4), ties=False, max_depth=4).executions == 16
    with pytest.raises(ExplorationLimit, match="more than 3 choices"):
        explore(_binary_choices(4), ties=False, max_depth=3)


def test_explore_detects_a_nondeterministic_program():
    calls = [0]  # state that survives between executions: a bug in run_once

    def run_once(policy):
        calls[0] += 1
        eng = Engine(policy)
        n_options = 5 - calls[0]   # 4, 3, 2, ... options on successive runs
        got = []

        def p():
            got.append(eng.choose_index(n_options, "shrinking"))
            yield 1

        eng.spawn(p())
        eng.run()
        return tuple(got)

    # run 1 picks 0 of 4 -> run 2 replays [1] but is offered 3 options: caught at once
    with pytest.raises(ExplorationLimit, match="not deterministic"):
        explore(run_once, ties=False)
    assert calls[0] == 2


def test_explore_does_not_leak_simulation_errors():
    def run_once(policy):
        eng = Engine(policy)
        eng.choose_index(0, "empty")

    with pytest.raises(SimulationError, match="no options"):
        explore(run_once)


def test_a_policy_that_does_not_record_makes_the_same_picks_and_keeps_no_log():
    logged, unlogged = SeededPolicy(7), SeededPolicy(7, record=False)
    picks = [logged.choose(5, "x") for _ in range(200)]
    assert [unlogged.choose(5, "x") for _ in range(200)] == picks
    assert unlogged.picks == unlogged.counts == unlogged.whys == []
    with pytest.raises(ValueError, match="record=False"):
        unlogged.trace()
