"""The window's requests reach the engine in the order it made them, whatever order their threads run in."""

import threading

from app.ui.engine.client import PostOrder


def test_each_request_posts_only_after_every_earlier_one_was_accepted_or_failed():
    order, posted = PostOrder(), []
    lock = threading.Lock()

    def request(ticket: int, fails: bool) -> None:
        if fails:  # a request that never gets to post (no engine, stopped first) still lets the next go
            order.done(ticket)
            return
        order.wait_turn(ticket, timeout=30)
        with lock:
            posted.append(ticket)
        order.done(ticket)
        order.done(ticket)  # accepted, then finished: the second word changes nothing

    threads = [threading.Thread(target=request, args=(t, t == 3)) for t in (6, 5, 4, 3, 2, 1)]  # started backwards
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert posted == [1, 2, 4, 5, 6]
