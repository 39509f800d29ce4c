"""App settings: a change is saved, told to listeners once, and felt by the model host at its next load."""

import json

from app import paths
from app.core.settings import (
    APP_OPTIONS,
    APP_SECTIONS,
    LOAD_SETTINGS,
    SERVER_SECTION,
    SERVER_SETTINGS,
    SETTINGS_PAGE_SECTIONS,
    Settings,
)


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


def test_the_server_section_round_trips_through_the_settings_file(hearth_home):
    settings = Settings()
    defaults = {key: settings[key] for key in SERVER_SETTINGS}
    assert defaults == {"server_enabled": False, "server_port": 8760, "server_host": "127.0.0.1", "server_api_key": "",
                        "server_cors_origins": [], "server_keep_api_conversations": False,
                        "server_keep_running": False}
    chosen = {"server_enabled": True, "server_port": 9123, "server_host": "0.0.0.0", "server_api_key": "sk-local-1",
              "server_cors_origins": ["http://localhost:3000", "https://app.example"],
              "server_keep_api_conversations": True, "server_keep_running": True}
    for key, value in chosen.items():
        settings.set(key, value)
    stored = json.loads(paths.settings_file().read_text(encoding="utf-8"))
    assert {key: stored[key] for key in SERVER_SETTINGS} == chosen
    assert {key: Settings()[key] for key in SERVER_SETTINGS} == chosen  # as the engine reads them at its start
    settings.set("server_port", 80)  # below the unprivileged range: clamped, as the form's box does
    settings.set("server_cors_origins", "http://a.test\nhttp://b.test")  # one per line, as typed in the form
    assert Settings()["server_port"] == 1024
    assert Settings()["server_cors_origins"] == ["http://a.test", "http://b.test"]


def test_a_hand_edited_server_value_that_means_nothing_falls_back_to_its_default(hearth_home):
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file().write_text(json.dumps({"server_enabled": "maybe", "server_port": "lots",
                                                 "server_host": "10.0.0.5"}), encoding="utf-8")
    settings = Settings()
    assert (settings["server_enabled"], settings["server_port"], settings["server_host"]) == (False, 8760, "10.0.0.5")


def test_the_settings_tab_draws_every_section_but_the_servers():
    assert [title for title, _when, _options in APP_SECTIONS if title not in
            [t for t, _w, _o in SETTINGS_PAGE_SECTIONS]] == [SERVER_SECTION]
