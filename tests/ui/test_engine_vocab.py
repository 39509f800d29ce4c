"""The window's dataset preview tokenizes GGUF text in the engine (its own process never loads llama.cpp), with
exactly the ids llama.cpp gives in-process, which is what the training child uses."""

from app.core.training import tokenizer
from app.core.training.examples import Turn
from app.core.training.tokenizer import TrainingTokenizer, llama_vocab
from app.ui.app import build_window


def test_the_engine_tokenizes_as_llama_cpp_does_here(qtbot, core, starter_path, monkeypatch):
    monkeypatch.setattr(tokenizer, "gguf_vocab_provider", llama_vocab)  # build_window replaces it; undone after
    local = TrainingTokenizer.for_model(starter_path, "gguf")
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        assert tokenizer.gguf_vocab_provider is not llama_vocab
        remote = TrainingTokenizer.for_model(starter_path, "gguf")
        turns = (Turn("system", "Be brief."), Turn("user", "Name a colour <b>please</b> 🌈."),
                 Turn("assistant", "Blue.", True), Turn("user", "Another?"), Turn("assistant", "Green!", True))
        assert remote.encode_turns(turns) == local.encode_turns(turns)
        assert (remote.bos_id, remote.add_bos) == (local.bos_id, local.add_bos)
        assert remote.encode("<|im_end|>") == local.encode("<|im_end|>") and len(remote.encode("<|im_end|>")) == 1
    finally:
        win.close()
        engine.shutdown()
