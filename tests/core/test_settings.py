"""App settings: a change is saved, told to listeners once, and felt by the model host at its next load."""

import json

from app import paths
from app.core.settings import APP_OPTIONS, APP_SECTIONS, LOAD_SETTINGS, Settings


def test_listeners_hear_each_change_once_and_can_stop(hearth_home):
    settings = Settings()
    heard = []
    stop = settings.subscribe(lambda key, value: heard.append((key, value)))
    settings.set("context_length", "8192")  # coerced like a value from the file
    settings.set("context_length", 8192)  # the value it has: nothing to tell (two mirrored views do not loop)
    assert heard == [("context_length", 8192)]
    assert json.loads(paths.settings_file().read_text(encoding="utf-8"))["context_length"] == 8192
    stop()
    settings.set("context_length", 2048)
    assert heard == [("context_length", 8192)]


def test_every_option_is_in_one_section_and_load_settings_are_the_hosts(core):
    keys = [o.key for _title, _when, options in APP_SECTIONS for o in options]
    assert sorted(keys) == sorted({o.key for o in APP_OPTIONS})
    assert set(LOAD_SETTINGS) == {"n_threads", "context_length", "gpu_layers"}
    host = core.new_host()
    core.settings.set("n_threads", 2)
    core.settings.set("context_length", 1024)
    core.settings.set("gpu_layers", -1)
    assert (host.n_threads, host.n_ctx, host.n_gpu_layers) == (2, 1024, -1)
