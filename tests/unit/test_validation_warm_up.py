"""Great Expectations made aside (`warm_up` in a thread, as `yitu run` makes it beside a
file's parse: `isolate.beside_next_parse`): a validation that comes while the thread still
makes the context waits for it and uses the same one; it is made once."""

from __future__ import annotations

import threading

import pytest

from pipelines.validate import run


def test_the_context_made_aside_is_the_one_validation_uses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run._made.cache_clear()
    made: list[str] = []
    started, go = threading.Event(), threading.Event()
    real = run.gx_context

    def slow_context(mode: str = "ephemeral", project_root_dir: object = None) -> object:
        made.append(threading.current_thread().name)
        started.set()
        go.wait(10)  # the validation below asks while this is under way
        return real()

    monkeypatch.setattr(run, "gx_context", slow_context)
    try:
        thread = threading.Thread(target=run.warm_up, name="yitu-gx-warm-up", daemon=True)
        thread.start()
        assert started.wait(10)
        found: list[object] = []
        asking = threading.Thread(target=lambda: found.append(run._batch_definition()))
        asking.start()
        asking.join(0.5)
        assert asking.is_alive()  # waits for the context under way, makes no second one
        go.set()
        asking.join(30)
        thread.join(30)
        assert made == ["yitu-gx-warm-up"]
        assert found == [run._batch_definition()]
    finally:
        run._made.cache_clear()
