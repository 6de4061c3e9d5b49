"""The bot lifecycle: states, the events that move a bot between them, and every legal edge.

This module is pure: no processes, no clock. ``transition`` is the only way a bot's state
changes, so an impossible move (a stopped bot "exiting") fails loudly instead of corrupting
the status.
"""

from __future__ import annotations

from enum import Enum


class BotState(Enum):
    """Where a bot is in its lifecycle (CONTRACT section 4)."""

    STARTING = "starting"
    """Its venv and dependencies are being prepared, or its process is being spawned."""
    RECOVERING = "recovering"
    """Its recovery entrypoint is running (before any trading code)."""
    RUNNING = "running"
    """Its process is alive."""
    BACKOFF = "backoff"
    """It exited and waits for its next start (``next_start_in_s``)."""
    STOPPING = "stopping"
    """SIGTERM was sent to its process group; SIGKILL follows after the stop timeout."""
    STOPPED = "stopped"
    """Stopped by the user (or never started); it stays registered."""
    EXITED = "exited"
    """Finished cleanly and not restarted by its policy."""
    ERRORED = "errored"
    """Given up: a person must act; ``last_exit`` says why."""


class ExitReason(Enum):
    """Why a bot's process ended (``last_exit.reason``)."""

    CRASH = "crash"
    MISSING_MODULE = "missing_module"
    SYNTAX_ERROR = "syntax_error"
    MEMORY_LIMIT = "memory_limit"
    FD_LIMIT = "fd_limit"
    HANG = "hang"
    RECOVERY_FAILED = "recovery_failed"
    STOPPED = "stopped"
    CLEAN_EXIT = "clean_exit"
    RELOAD = "reload"
    UNKNOWN = "unknown"


class StartReason(Enum):
    """Why a bot is starting; the recovery context receives it as ``ctx.reason``."""

    FIRST_START = "first_start"
    CRASH = "crash"
    RESTART = "restart"
    RELOAD = "reload"
    MEMORY_LIMIT = "memory_limit"
    FD_LIMIT = "fd_limit"
    HANG = "hang"
    SUPERVISOR_RESTART = "supervisor_restart"
    REPAIRED = "repaired"
    """Auto-install added what the last run was missing (a repair: not counted as a restart)."""


class Hold(Enum):
    """Why a bot that was meant to run was stopped with its supervisor (``held``), which
    decides what may start it again (CONTRACT section 6, "a deliberate stop stays a stop")."""

    SHUTDOWN = "shutdown"
    """``wdbot shutdown``: a person stopped it. Only ``start``, ``restart`` or ``up`` run it
    again, whatever starts a supervisor meanwhile (a service manager, a reboot, a person)."""
    SIGNAL = "signal"
    """The supervisor was stopped by a signal (``systemctl stop``, the machine going down,
    ``docker stop``, Ctrl-C): the next ``wdbot daemon`` starts it again, as after a boot; a
    supervisor that a command launched leaves it stopped."""


class Event(Enum):
    """What happens to a bot; ``transition`` maps (state, event) to the next state."""

    START = "start"
    """The user or the supervisor asks the bot to run."""
    SPAWNED = "spawned"
    """Its process exists."""
    ADOPTED = "adopted"
    """A new supervisor found the bot's process alive and took it over without restarting it."""
    RECOVERY_STARTED = "recovery_started"
    """Its ``recover(ctx)`` runs (it is spawned with one, or reports that it began)."""
    RECOVERED = "recovered"
    """Its ``recover(ctx)`` returned: trading code runs now."""
    PREPARE_FAILED = "prepare_failed"
    """Its venv or dependencies could not be set up, and no retry can heal that."""
    PREPARE_RETRY = "prepare_retry"
    """Setting it up failed in a way that may heal (a download, an index that is down): it
    backs off and tries again, like a crash."""
    EXIT_REPAIR = "exit_repair"
    """It died of a missing module: its venv is being repaired before it starts again."""
    EXIT_RESTART = "exit_restart"
    """It exited and its policy restarts it after a delay."""
    EXIT_DONE = "exit_done"
    """It exited cleanly and its policy does not restart it."""
    EXIT_FATAL = "exit_fatal"
    """It exited in a way a restart cannot heal (or its policy forbids restarts)."""
    BACKOFF_ELAPSED = "backoff_elapsed"
    STOP = "stop"
    """The user (or shutdown) asks it to stop."""
    STOPPED = "stopped"
    """Its process tree is gone after a stop."""


_S = BotState
_E = Event
_RESTING = (_S.STOPPED, _S.EXITED, _S.ERRORED)

TRANSITIONS: dict[tuple[BotState, Event], BotState] = {
    **{(s, _E.START): _S.STARTING for s in _RESTING},
    **{(s, _E.ADOPTED): _S.RUNNING for s in _RESTING},
    (_S.STARTING, _E.SPAWNED): _S.RUNNING,
    (_S.STARTING, _E.PREPARE_FAILED): _S.ERRORED,
    (_S.STARTING, _E.PREPARE_RETRY): _S.BACKOFF,
    (_S.STARTING, _E.RECOVERY_STARTED): _S.RECOVERING,
    # A file that gained recover() after it was spawned reports it.
    (_S.RUNNING, _E.RECOVERY_STARTED): _S.RECOVERING,
    (_S.RECOVERING, _E.RECOVERED): _S.RUNNING,
    **{
        (s, e): target
        for s in (_S.RUNNING, _S.RECOVERING)
        for e, target in (
            (_E.EXIT_RESTART, _S.BACKOFF),
            (_E.EXIT_DONE, _S.EXITED),
            (_E.EXIT_FATAL, _S.ERRORED),
            (_E.EXIT_REPAIR, _S.STARTING),
        )
    },
    (_S.BACKOFF, _E.BACKOFF_ELAPSED): _S.STARTING,
    **{
        (s, _E.STOP): _S.STOPPING
        for s in (_S.STARTING, _S.RECOVERING, _S.RUNNING, _S.BACKOFF, _S.EXITED, _S.ERRORED)
    },
    (_S.STOPPING, _E.STOPPED): _S.STOPPED,
    # A restart the supervisor decided on (a limit): stopping, then the usual exit edges.
    (_S.STOPPING, _E.EXIT_RESTART): _S.BACKOFF,
    (_S.STOPPING, _E.EXIT_FATAL): _S.ERRORED,
}
"""Every legal edge. Anything else is a bug in the caller."""

ACTIVE_STATES = frozenset({_S.STARTING, _S.RECOVERING, _S.RUNNING, _S.BACKOFF, _S.STOPPING})
"""States in which the supervisor is working on the bot (it should be or is running)."""


class InvalidTransition(Exception):
    """A (state, event) pair with no edge in ``TRANSITIONS``."""


def transition(state: BotState, event: Event) -> BotState:
    """The state after ``event`` happens in ``state``.

    >>> transition(BotState.RUNNING, Event.EXIT_RESTART)
    <BotState.BACKOFF: 'backoff'>
    """
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"no edge from {state.value} on {event.value}") from None
