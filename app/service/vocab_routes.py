"""Tokenizing with a GGUF file's own llama.cpp vocabulary, for the window (its process never loads llama.cpp):
the Training tab's dataset preview counts and masks tokens exactly as the training child and chat will.

`POST /hearth/v1/vocab` {"path"} answers the special tokens; `POST /hearth/v1/tokenize` {"path", "texts"} answers
the ids of each text. Vocabularies load without weights (a fraction of a second) and are kept for the next call;
they are separate from the loaded model, so this never waits for a reply.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from app.core.training.tokenizer import GGUFVocab, llama_vocab
from app.service.auth import require_token

router = APIRouter(prefix="/hearth/v1", dependencies=[Depends(require_token)])

KEPT = 2  # vocabularies kept loaded (a preview uses one base model at a time)
_vocabs: dict[str, GGUFVocab] = {}
_lock = threading.Lock()  # one tokenizer call at a time: llama.cpp's vocabulary objects are not shared safely


class VocabBody(BaseModel):
    path: str


class TokenizeBody(BaseModel):
    path: str
    texts: list[str]


def _vocab(path: str) -> GGUFVocab:
    file = Path(path)
    if not file.is_file() or file.suffix.lower() != ".gguf":
        raise HTTPException(404, f"{file.name}: no such GGUF file.")
    key = str(file.resolve())
    vocab = _vocabs.get(key)
    if vocab is None:
        try:
            vocab = llama_vocab(file)
        except Exception as exc:  # noqa: BLE001 - a file llama.cpp refuses is the caller's problem, not the engine's
            raise HTTPException(422, f"{file.name}: its vocabulary could not be read ({exc}).") from exc
        while len(_vocabs) >= KEPT:
            _vocabs.pop(next(iter(_vocabs)))
        _vocabs[key] = vocab
    return vocab


@router.post("/vocab")
def vocab(body: VocabBody) -> dict:
    with _lock:
        v = _vocab(body.path)
        return {"bos_id": v.bos_id, "bos_text": v.bos_text, "eos_text": v.eos_text}


@router.post("/tokenize")
def tokenize(body: TokenizeBody) -> dict:
    with _lock:
        v = _vocab(body.path)
        return {"ids": [v.encode(text) if text else [] for text in body.texts]}
