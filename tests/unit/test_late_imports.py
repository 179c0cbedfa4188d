"""A call process says which modules it imported during its call (`worker.late_imports`)."""

from __future__ import annotations

import logging
import sys

import pytest

from worker import late_imports

pytestmark = pytest.mark.unit


async def test_a_module_imported_after_the_process_was_ready_is_logged_with_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sys.modules.pop("colorsys", None)
    late_imports.note_ready()
    import colorsys  # noqa: F401  (what a call would import on its loop)

    assert late_imports.imported_since_ready() == ["colorsys"]
    with caplog.at_level(logging.INFO, logger="dialroom.worker.imports"):
        await late_imports.report("c-1", "receptionist")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "call c-1 (persona receptionist)" in line and "1 modules" in line
    assert "(colorsys)" in line


async def test_a_call_that_imported_nothing_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    late_imports.note_ready()
    with caplog.at_level(logging.INFO, logger="dialroom.worker.imports"):
        await late_imports.report("c-2", "receptionist")
    assert caplog.records == []
