"""What the Server tab tells a person, decided in core: loopback or not, the URL a client uses, the warning, the
state line, and a request event read leniently."""

import pytest

from app.core import local_server as ls


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", " LOCALHOST "])
def test_loopback_addresses_reach_only_this_computer(host):
    assert ls.is_loopback(host) and ls.address_problem(host) is None
    assert ls.exposure_warning(host, 8760, has_key=False) == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5"])
def test_other_addresses_are_warned_about_and_the_warning_says_whether_a_key_guards_them(host):
    assert not ls.is_loopback(host) and ls.address_problem(host) is None
    assert "No API key is set" in ls.exposure_warning(host, 8760, has_key=False)
    assert "need the API key" in ls.exposure_warning(host, 8760, has_key=True)


@pytest.mark.parametrize("host", ["", "my laptop", "example.com", "300.1.1.1", "http://127.0.0.1"])
def test_what_is_not_an_address_is_refused_with_what_to_type(host):
    assert "127.0.0.1" in ls.address_problem(host)
    assert not ls.is_loopback(host)


def test_the_base_url_is_one_this_computer_can_open():
    assert ls.base_url("127.0.0.1", 8760) == "http://127.0.0.1:8760/v1"
    assert ls.base_url("0.0.0.0", 9000) == "http://127.0.0.1:9000/v1"  # a wildcard bind is reached on loopback
    assert ls.base_url("::", 9000) == "http://127.0.0.1:9000/v1"
    assert ls.base_url("::1", 9000) == "http://[::1]:9000/v1"
    assert ls.base_url("192.168.1.20", 9000) == "http://192.168.1.20:9000/v1"


def test_the_state_line_says_what_really_answers():
    url = "http://127.0.0.1:8760/v1"
    serving, closed, other = ls.ListenCheck("serving"), ls.ListenCheck("closed"), ls.ListenCheck("other", "HTTP 404")
    assert ls.state_sentence(True, serving, url, 8760).startswith("On: other apps can use the API at " + url)
    assert "nothing serves" in ls.state_sentence(True, closed, url, 8760)
    assert "Another program answers on port 8760" in ls.state_sentence(True, other, url, 8760)
    assert ls.state_sentence(False, serving, url, 8760).startswith("Off, but the engine still serves")
    assert "once the engine is up" in ls.state_sentence(True, None, url, 8760)
    assert ls.state_sentence(False, closed, url, 8760).startswith("Off: only Hearth's window")


def test_nothing_listening_is_told_apart_from_something_else():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert ls.check_listening("127.0.0.1", port, "token", 1).state == "closed"


def test_generated_keys_are_long_random_and_recognisable():
    keys = {ls.new_api_key() for _ in range(50)}
    assert len(keys) == 50 and all(k.startswith("hearth-") and len(k) >= 36 for k in keys)


def test_a_request_event_is_read_from_its_documented_fields_and_odd_ones_do_not_lose_the_row():
    record = ls.RequestRecord.from_event({
        "event": "request", "time": "2026-12-02T03:50:52.912+00:00", "client": "127.0.0.1:55146",
        "route": "/v1/chat/completions", "model": "SmolLM2", "prompt_tokens": 36, "completion_tokens": 2,
        "tokens_per_s": 19.04, "status": 200})
    assert record.time == pytest.approx(1796183452.912)
    assert (record.client, record.route, record.model, record.prompt_tokens, record.completion_tokens,
            record.tokens_per_s, record.status, record.failed) == (
        "127.0.0.1:55146", "/v1/chat/completions", "SmolLM2", 36, 2, 19.04, 200, False)
    usage = ls.RequestRecord.from_event({"time": 1700000000, "usage": {"prompt_tokens": 5, "completion_tokens": 7},
                                         "status": "503"})
    assert (usage.time, usage.prompt_tokens, usage.completion_tokens, usage.status, usage.failed) == (
        1700000000.0, 5, 7, 503, True)
    odd = ls.RequestRecord.from_event({"time": "yesterday", "prompt_tokens": True, "status": None})
    assert (odd.time, odd.prompt_tokens, odd.status, odd.failed) == (None, None, None, False)
