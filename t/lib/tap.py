"""Produce TAP (Test Anything Protocol) output for the integration tests.

Results go to standard output as ``ok N - name`` lines and the plan ``1..N``
is printed last by done_testing(), so no script keeps a test count by hand.
Diagnostics go to standard error, as Perl's Test::More does, so prove shows
them even when it hides the TAP stream.
"""

import contextlib
import re
import sys
import traceback

_count = 0
_failed = 0


def _emit(line):
    sys.stderr.flush()
    print(line, flush=True)


def _test_frame():
    """Return the innermost stack frame outside this module: the test's own line."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename not in (__file__, contextlib.__file__):
            return frame
    return traceback.extract_stack()[0]


def ok(cond, name):
    """Record one test that passes when cond is true, and return bool(cond)."""
    global _count, _failed
    _count += 1
    passed = bool(cond)
    if not passed:
        _failed += 1
    _emit(f"{'ok' if passed else 'not ok'} {_count} - {name}")
    if not passed:
        caller = _test_frame()
        diag(f"  Failed test '{name}'\n  at {caller.filename} line {caller.lineno}.")
    return passed


def is_(got, expected, name):
    """Record a test that passes when got == expected, showing both values on failure."""
    passed = ok(got == expected, name)
    if not passed:
        diag(f"     got: {got!r}\nexpected: {expected!r}")
    return passed


def like(text, pattern, name):
    """Record a test that passes when the regular expression pattern matches text."""
    passed = ok(isinstance(text, str) and re.search(pattern, text) is not None, name)
    if not passed:
        diag(f"                  {text!r}\ndoesn't match '{pattern}'")
    return passed


def skip(name, reason):
    """Record one skipped test."""
    global _count
    _count += 1
    _emit(f"ok {_count} - {name} # SKIP {reason}")


def diag(msg):
    """Print msg as TAP diagnostics (each line prefixed with '# ') on standard error."""
    sys.stdout.flush()
    for line in str(msg).splitlines() or [""]:
        print(f"# {line}", file=sys.stderr, flush=True)


def note(msg):
    """Print msg as TAP comments on standard output, where prove shows them only with -v."""
    for line in str(msg).splitlines() or [""]:
        _emit(f"# {line}")


def failed():
    """Return True when at least one test has failed so far."""
    return _failed > 0


def skip_all(reason):
    """Print the plan ``1..0 # SKIP reason`` and exit 0. Call it before any test."""
    _emit(f"1..0 # SKIP {reason}")
    sys.exit(0)


def done_testing():
    """Print the plan and exit: 0 if every test passed, 1 otherwise.

    A script that ran no test at all fails, because that usually means its
    body stopped early.
    """
    if _count == 0:
        ok(False, "at least one test ran")
    _emit(f"1..{_count}")
    sys.exit(1 if _failed else 0)


@contextlib.contextmanager
def guard(name):
    """Run a with-block, turning an uncaught exception into a failed test named name.

    The traceback is printed as diagnostics and the script goes on after the
    block, so later steps and cleanup still run. Exceptions that are not
    Exception subclasses (KeyboardInterrupt, SystemExit) pass through.
    """
    try:
        yield
    except Exception:
        ok(False, f"{name}: no uncaught exception")
        diag(traceback.format_exc())


def run(body):
    """Call body(), record an uncaught exception as a failed test, then call done_testing().

    Cleanup written as with-blocks or try/finally inside body runs before the
    exception reaches this function.
    """
    with guard(getattr(body, "__name__", "test body")):
        body()
    done_testing()
