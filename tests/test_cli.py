import json
import signal
import time

from sqlalchemy import create_engine, text

from app.core.engine.generating_sign import engine_generating
from tests.helpers.procs import hearth, spawn


def test_chat_streams_to_stdout_saves_and_continues(hearth_home):
    first = hearth("chat", "What is 2 plus 2?", "--temperature", "0", "--max-tokens", "32", home=hearth_home)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip()
    assert "tok/s" in first.stderr and "conversation 1" in first.stderr
    second = hearth("chat", "And 3 plus 3?", "--conversation", "1", "--max-tokens", "16", home=hearth_home)
    assert second.returncode == 0, second.stderr
    exported = json.loads(hearth("export", "--format", "json", home=hearth_home).stdout)
    (conv,) = exported["conversations"]
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant", "user", "assistant"]
    assert conv["messages"][1]["content"].strip() == first.stdout.strip()
    md = hearth("export", "--format", "md", "--conversation", "1", home=hearth_home).stdout
    assert "And 3 plus 3?" in md


def test_chat_with_unknown_model_or_conversation_says_so(hearth_home):
    bad_model = hearth("chat", "hi", "--model", "no-such-model", home=hearth_home)
    assert bad_model.returncode != 0 and "no model matches 'no-such-model'" in bad_model.stderr
    assert "hearth models list" in bad_model.stderr and "Models tab" not in bad_model.stderr  # a CLI points to the CLI
    bad_conv = hearth("chat", "hi", "--conversation", "42", home=hearth_home)
    assert bad_conv.returncode != 0 and "no conversation with id 42" in bad_conv.stderr
    assert "Traceback" not in bad_model.stderr + bad_conv.stderr


def test_killed_mid_reply_keeps_the_text_and_marks_it_interrupted(hearth_home):
    ok = hearth("chat", "Say hi.", "--max-tokens", "8", home=hearth_home)
    assert ok.returncode == 0, ok.stderr
    signs = hearth_home / "generating"
    assert not engine_generating(signs) and not list(signs.glob("[0-9]*")), "a finished reply takes its sign down"
    db = create_engine(f"sqlite:///{hearth_home / 'hearth.sqlite3'}")
    # --ignore-eos: the reply cannot end before max tokens, whatever the model would choose to write
    proc = spawn("chat", "Write a very long essay about the history of bread.", "--conversation", "1",
                 "--max-tokens", "2000", "--temperature", "0.8", "--seed", "7", "--ignore-eos", home=hearth_home)
    deadline = time.time() + 120
    partial = ""
    while time.time() < deadline and len(partial) < 40:
        time.sleep(0.2)
        with db.connect() as conn:
            row = conn.execute(text("SELECT content, status FROM message WHERE id = 4")).first()
        partial = row[0] if row else ""
    assert len(partial) >= 40 and row[1] == "streaming", "the reply should reach the database while streaming"
    assert engine_generating(signs), "a training job must see the command line's reply, as it sees the engine's"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not engine_generating(signs), "the sign of a killed process counts for nothing"
    db.dispose()
    exported = json.loads(hearth("export", home=hearth_home).stdout)  # any Hearth process recovers on open
    messages = exported["conversations"][0]["messages"]
    assert [m["status"] for m in messages[:3]] == ["complete", "complete", "complete"]
    assert messages[0]["content"] == "Say hi."
    assert messages[3]["status"] == "interrupted"
    assert messages[3]["content"].startswith(partial[:40])


def test_continuing_a_conversation_keeps_its_model(hearth_home, tmp_path, starter_path):
    import shutil

    copy = tmp_path / "Second-Model-Q4_1.gguf"
    shutil.copyfile(starter_path, copy)
    imported = hearth("models", "import", str(copy), "--in-place", home=hearth_home)
    assert imported.returncode == 0, imported.stderr
    first = hearth("chat", "hi", "--model", "Second", "--max-tokens", "4", home=hearth_home)
    assert first.returncode == 0, first.stderr
    name = first.stderr.rsplit("[", 1)[1].split(" · ")[0]
    assert "SmolLM2 135M Instruct (Q4_1)" not in name  # not the default model
    again = hearth("chat", "more", "--conversation", "1", "--max-tokens", "4", home=hearth_home)
    assert again.returncode == 0, again.stderr
    assert again.stderr.rsplit("[", 1)[1].startswith(f"{name} · conversation 1"), again.stderr[-300:]
