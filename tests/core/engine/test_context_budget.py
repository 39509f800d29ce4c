import pytest

from app.core.engine.backend import ChatMessage
from app.core.engine.context_budget import PromptTooLong, fit


def _count(messages):
    return sum(len(m.content.split()) + 2 for m in messages)


def _convo():
    return [
        ChatMessage("system", "be nice", 0),
        ChatMessage("user", "one " * 10, 1),
        ChatMessage("assistant", "two " * 10, 2),
        ChatMessage("user", "three " * 10, 3),
        ChatMessage("assistant", "four " * 10, 4),
        ChatMessage("user", "five " * 10, 5),
    ]


def test_everything_fits():
    budget = fit(_convo(), _count, n_ctx=200, reply_tokens=50)
    assert budget.dropped == () and len(budget.messages) == 6


def test_oldest_turns_go_first_and_the_system_prompt_stays():
    # 4 (system) + 5 x 12 = 64 tokens; a limit of 40 leaves room for the system prompt and the last 3 messages.
    budget = fit(_convo(), _count, n_ctx=80, reply_tokens=40)
    assert [m.id for m in budget.dropped] == [1, 2]
    assert [m.id for m in budget.messages] == [0, 3, 4, 5]
    assert budget.prompt_tokens <= budget.limit == 40


def test_message_too_long_on_its_own_is_a_clear_error():
    with pytest.raises(PromptTooLong, match="too long"):
        fit([ChatMessage("user", "word " * 500, 1)], _count, n_ctx=100, reply_tokens=20)


def test_real_tokenizer_budget_drops_whole_turns(llama):
    long = "tell me more about the history of this " * 30
    messages = [ChatMessage("user", long, 1), ChatMessage("assistant", long, 2), ChatMessage("user", "And now?", 3)]
    total = llama.count_tokens(messages)
    budget = fit(messages, llama.count_tokens, n_ctx=total, reply_tokens=total // 2)
    assert [m.id for m in budget.dropped] == [1, 2]
    assert [m.id for m in budget.messages] == [3]
