from __future__ import annotations

import pytest

from watchdog_runtime.states import ACTIVE_STATES, TRANSITIONS, BotState, Event, InvalidTransition, transition


def test_every_state_is_reachable_and_every_non_resting_state_can_be_stopped() -> None:
    targets = set(TRANSITIONS.values())
    assert set(BotState) - targets == set(), "a state no edge leads to"
    for state in ACTIVE_STATES - {BotState.STOPPING}:
        assert transition(state, Event.STOP) is BotState.STOPPING


@pytest.mark.parametrize("path, expected", [
    ([Event.START, Event.SPAWNED], BotState.RUNNING),
    ([Event.START, Event.SPAWNED, Event.EXIT_RESTART, Event.BACKOFF_ELAPSED, Event.SPAWNED],
     BotState.RUNNING),
    ([Event.START, Event.SPAWNED, Event.EXIT_DONE], BotState.EXITED),
    ([Event.START, Event.SPAWNED, Event.EXIT_FATAL], BotState.ERRORED),
    ([Event.START, Event.PREPARE_FAILED], BotState.ERRORED),
    ([Event.START, Event.SPAWNED, Event.STOP, Event.STOPPED], BotState.STOPPED),
    ([Event.ADOPTED, Event.EXIT_RESTART, Event.STOP, Event.STOPPED], BotState.STOPPED),
    ([Event.START, Event.RECOVERY_STARTED, Event.RECOVERED], BotState.RUNNING),
])
def test_paths_through_the_lifecycle(path: list[Event], expected: BotState) -> None:
    state = BotState.STOPPED
    for event in path:
        state = transition(state, event)
    assert state is expected


@pytest.mark.parametrize("state, event", [
    (BotState.STOPPED, Event.EXIT_RESTART),   # a stopped bot cannot exit
    (BotState.RUNNING, Event.START),          # never a second copy
    (BotState.RUNNING, Event.ADOPTED),
    (BotState.BACKOFF, Event.SPAWNED),        # spawning goes through STARTING
    (BotState.STOPPING, Event.START),
])
def test_impossible_moves_are_refused(state: BotState, event: Event) -> None:
    with pytest.raises(InvalidTransition, match=state.value):
        transition(state, event)
