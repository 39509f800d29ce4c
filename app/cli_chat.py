"""`hearth chat`: one reply streamed to stdout, saved like any conversation in the window."""

from __future__ import annotations

import sys
from dataclasses import replace

from app.core.chat.reply import run_reply
from app.core.chat.turns import NoModelError, start_turn
from app.core.engine.backend import ModelLoadError
from app.core.engine.events import ContextTrimmed, Failed, Finished, TextDelta
from app.core.engine.generating_sign import GeneratingSign
from app.core.library.registry import default_model, find_model, get_model
from app.core.startup import open_core
from app.core.storage import conversations as convs
from app.core.training.adapters import find_adapter, use_in_conversation


def _err(message: str) -> int:
    print(f"hearth: {message}", file=sys.stderr)
    return 1


def chat(args) -> int:
    core = open_core()
    with core.db.session() as session:
        model = find_model(session, args.model) if args.model else default_model(session)
        if model is None:
            if args.model:
                return _err(f"no model matches '{args.model}'. `hearth models list` shows the library.")
            return _err("no model installed. Add one with `hearth models import PATH` or `hearth models pull REPO`.")
        if args.conversation is not None:
            try:
                conversation = convs.require_listed_conversation(session, args.conversation)
            except LookupError as exc:
                return _err(str(exc))
            params = dict(conversation.params or {})
        else:
            conversation = convs.create_conversation(
                session, system_prompt=args.system or core.settings["default_system_prompt"], model_id=model.id
            )
            params = {}
        for key in ("temperature", "max_tokens", "seed"):
            if getattr(args, key) is not None:
                params[key] = getattr(args, key)
        # An existing conversation keeps its own model unless --model names another.
        keep = args.conversation is not None and not args.model and conversation.model_id is not None
        convs.update_conversation_settings(session, conversation.id, model_id=conversation.model_id if keep else model.id,
                                           params=params)
        conversation_id = conversation.id
        if getattr(args, "adapter", None):
            adapter = find_adapter(session, args.adapter)
            if adapter is None:
                return _err(f"no adapter matches '{args.adapter}'. See `hearth adapters list`.")
            use_in_conversation(session, conversation_id, adapter.id)
            model = get_model(session, adapter.base_model_id) if adapter.base_model_id else model
            if model is None:
                return _err(f"the base model of {adapter.name} is no longer in the library.")
    try:
        pending = start_turn(core.db, conversation_id, args.prompt)
        if args.ignore_eos:  # this reply only: the conversation's stored settings stay as they are
            pending = replace(pending, params=replace(pending.params, ignore_eos=True))
        model = pending.model  # the conversation's model (and below, its backend choice)
        backend = core.new_host().load(model.id, model.path, model.name, model.format, pending.backend)
        backend.set_adapter(pending.adapter)
    except (ModelLoadError, NoModelError, ValueError) as exc:
        return _err(str(exc))
    status = 0
    sign = GeneratingSign()  # a training job gives this reply the cores, as it does the engine's (yielding.py)
    sign.up()
    try:
        for event in run_reply(core.db, backend, pending, lambda: False):
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, ContextTrimmed):
                print(f"[context full: left out {len(event.dropped_ids)} oldest message(s)]", file=sys.stderr)
            elif isinstance(event, Finished):
                sys.stdout.write("\n")
                via = f" + {pending.adapter.name}" if pending.adapter else ""
                print(
                    f"[{model.name}{via} · conversation {conversation_id} · {event.completion_tokens} tokens · "
                    f"{event.tokens_per_s:.1f} tok/s · first token {event.ttft_s * 1000:.0f} ms · "
                    f"prompt {event.prompt_tokens} tokens · {event.finish_reason}]",
                    file=sys.stderr,
                )
            elif isinstance(event, Failed):
                status = _err(event.message)
    except KeyboardInterrupt:
        print("\n[stopped]", file=sys.stderr)
        status = 130
    finally:
        sign.down()
    return status
