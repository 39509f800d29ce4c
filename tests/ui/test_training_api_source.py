"""The Training tab offers rated API exchanges as a source of their own, off until chosen."""

from app.core.chat.api_exchanges import rate_completion, start_exchange
from app.core.engine.backend import ChatMessage
from app.core.engine.params import GenerationParams
from app.core.library.registry import default_model
from app.ui.models_list import ModelListModel
from app.ui.training.new_job_page import NewJobPage


def test_rated_api_exchanges_are_a_checkbox_with_their_count(qtbot, core):
    with core.db.session() as s:
        model = default_model(s)
    _reply, completion_id = start_exchange(core.db, model, None, [ChatMessage("user", "Hi?")], GenerationParams())
    rate_completion(core.db, completion_id, 1, correction="Hello.")
    page = NewJobPage(core, ModelListModel(core.db))
    qtbot.addWidget(page)
    assert page.use_api.text() == "Rated API exchanges (1)"
    assert not page.use_api.isChecked() and page.spec().api_conversations is False
    page.built = object()  # a preview built before the choice changed is stale afterwards
    page.use_api.setChecked(True)
    assert page.spec().api_conversations is True and page.built is None
