"""Versions of an assistant written straight into the database (job and adapter rows, as a finished job leaves
them) and rated replies, for the tests of versions and the nudge: nothing is trained."""

from __future__ import annotations

from app.core.library.registry import default_model
from app.core.storage import conversations as convs
from app.core.storage.models import Adapter, JobStatus, TrainingJob, utcnow
from app.core.training.dataset import DatasetSpec
from app.core.training.options import job_options


def add_job(session, assistant, options=None, spec=None, status=JobStatus.DONE, base_id=None):
    base = default_model(session)
    job = TrainingJob(name=f"{assistant} job", base_model_id=base_id or base.id, base_name=base.name,
                      base_path=base.path, method="lora", options=job_options(options), status=status, run_dir="",
                      dataset={"spec": (spec or DatasetSpec()).to_dict()}, assistant=assistant)
    session.add(job)
    session.flush()
    return job


def add_version(session, assistant, version, created, job=None, **figures):
    """An adapter as the version `version` of `assistant` (None: an adapter from before versions, named by `name`)."""
    base = default_model(session)
    row = Adapter(name=f"{assistant} v{version}" if assistant else figures.pop("name"), assistant=assistant,
                  version=version, job_id=job.id if job else None, base_model_id=base.id, base_name=base.name,
                  peft_dir="/nowhere", created_at=created, wins=figures.pop("wins", 0),
                  losses=figures.pop("losses", 0), **figures)
    session.add(row)
    session.flush()
    return row


def rate(session, when=None, rating=1, correction=None, api=False, deleted=False, question="Hello?", reply="Hi."):
    """A user message and a reply in a new conversation, the reply rated (its feedback last changed `when`)."""
    conv = convs.create_conversation(session, params={"source": "api"} if api else {})
    user = convs.add_message(session, conv.id, role="user", content=question)
    answer = convs.add_message(session, conv.id, role="assistant", content=reply, parent_id=user.id)
    fb = convs.set_feedback(session, answer.id, rating=rating, correction=correction)
    if when is not None:
        fb.updated_at = when
    if deleted:
        conv.deleted_at = utcnow()
    return fb
