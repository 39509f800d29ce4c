"""The dataset preview: what each source gave (replies to imitate, preference pairs, lone thumbs), the pairs side
by side, a few examples with their learned tokens marked, the lengths, and the problems found."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QListView,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.training.dataset import BuiltDataset
from app.core.training.preferences import PreferencePair
from app.core.training.tokenizer import TrainingTokenizer
from app.ui.plain_text import plain_label
from app.ui.row_model import RowTableModel
from app.ui.tables import row_table
from app.ui.training.pair_view import PairView

EXAMPLES_SHOWN = 3
# How the preview names a source; the others ("API exchanges", a file's name) are named as they are
SOURCE_NAMES = {"conversations": "Chats", "writing": "Your writing"}
ROWS_SHOWN = 4  # the counts table's height; more sources scroll


@dataclass(frozen=True)
class SourceRow:
    """What one source gave, as the preview counts it."""

    source: str
    imitate: int  # replies to imitate (SFT): thumbs-up, corrections, file and writing examples
    pairs: int  # preferred / less preferred
    lone_up: int  # thumbs-up with no other rated version (also imitated)
    lone_down: int  # thumbs-down with no correction and no preferred version

    def total(self) -> int:
        return self.imitate + self.pairs + self.lone_down


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def source_rows(built: BuiltDataset) -> list[SourceRow]:
    """The dataset's per-source counts, in the order the form lists its sources."""
    return [SourceRow(source_name(s), c.sft, c.pairs, c.unpaired_up, c.unpaired_down)
            for s, c in built.counts.items()]


def preference_pairs(built: BuiltDataset) -> list[tuple[PreferencePair, bool]]:
    """Every pair with whether it is held out (the adapter's preference accuracy is measured on those)."""
    return ([(p, False) for p in built.train_prefs if isinstance(p, PreferencePair)]
            + [(p, True) for p in built.eval_prefs if isinstance(p, PreferencePair)])


class SourceCountsModel(RowTableModel):
    columns = ("Source", "To imitate", "Pairs", "Lone ▲", "Lone ▼")
    TIPS = ("Where the examples come from",
            "Replies the assistant learns to write: thumbs-up replies, corrections, file and writing examples",
            "A preferred and a less preferred reply to the same prompt (a correction and the reply it corrects, or "
            "a ▲ version and a ▼ version)",
            "Thumbs-up replies with no other rated version (imitated)",
            "Thumbs-down replies with no correction and no preferred version: made less likely")

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        values = (row.source, row.imitate, row.pairs, row.lone_up, row.lone_down)
        if role == Qt.DisplayRole:
            value = values[index.column()]
            return value if index.column() == 0 else (str(value) if value else "–")
        if role == Qt.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole and index.column() == 0:
            return row.source
        return None

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation != Qt.Horizontal:
            return None
        if role == Qt.DisplayRole:
            return self.columns[section]
        if role == Qt.ToolTipRole:
            return self.TIPS[section]
        return None


def histogram_text(built: BuiltDataset) -> str:
    bins = built.histogram(bins=6)
    while bins and not bins[-1][2]:
        bins.pop()
    while bins and not bins[0][2]:  # the lengths present, not an axis from zero
        bins.pop(0)
    if not bins:
        return ""
    peak = max(count for *_, count in bins) or 1
    bars = (f"{lo:>5}–{hi:<5} {'█' * max(1 if count else 0, round(24 * count / peak))} {count}"
            for lo, hi, count in bins)
    return "Tokens per example\n" + "\n".join(bars)


def examples_text(built: BuiltDataset, tokenizer: TrainingTokenizer) -> str:
    shown = []
    for item in built.items[:EXAMPLES_SHOWN]:
        pieces = tokenizer.spans(item.example.turns)
        text = "".join(f"⟦{t}⟧" if train else t for t, train in pieces)
        shown.append(f"— {item.example.origin} · {len(item.encoded.input_ids)} tokens, "
                     f"{item.encoded.trained} learned (in ⟦ ⟧)\n{text}")
    return "\n\n".join(shown)


class DatasetPreview(QWidget):
    """Shows a built dataset (or why none could be built). The page owns building; this only shows."""

    PAIRS, EXAMPLES, LENGTHS, PROBLEMS = range(4)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = plain_label("Press Preview to see what the assistant will learn from.")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.counts = SourceCountsModel(self)
        self.counts_view = row_table(self.counts)
        self.counts_view.setObjectName("sourceCounts")
        self.counts_view.setSelectionMode(QAbstractItemView.NoSelection)
        self.counts_view.setFocusPolicy(Qt.NoFocus)
        header = self.counts_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        self.counts_view.hide()
        self.pair_view = PairView()
        self.examples = QPlainTextEdit()
        self.examples.setReadOnly(True)
        self.examples.setObjectName("examplePreview")
        self.histogram = plain_label("")
        self.histogram.setObjectName("histogram")
        self.histogram.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.problems = QStringListModel(self)
        self.problems_view = QListView()
        self.problems_view.setModel(self.problems)
        self.problems_view.setObjectName("problemList")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("subTabs")  # the compact tabs the Training tab's pages use
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.pair_view, "Pairs")
        self.tabs.addTab(self.examples, "Examples")
        self.tabs.addTab(self.histogram, "Lengths")
        self.tabs.addTab(self.problems_view, "Problems")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.summary)
        layout.addWidget(self.counts_view)
        layout.addWidget(self.tabs, 1)
        layout.addStretch(0)  # holds the summary at the top while there is nothing below it
        self.clear()

    def clear(self, message: str | None = None) -> None:
        if message is not None:
            self.summary.setText(message)
        self.counts.set_rows([])
        self.counts_view.hide()
        self.pair_view.set_pairs([])
        self.examples.clear()
        self.histogram.setText("")
        self.problems.setStringList([])
        self._label_tabs(pairs=0, examples=0, problems=0)
        self.tabs.setVisible(False)

    def show_error(self, message: str, problems: list) -> None:
        self.clear(message)
        self.problems.setStringList([str(p) for p in problems])
        if problems:
            self._label_tabs(pairs=0, examples=0, problems=len(problems))
            self.tabs.setVisible(True)
            self.tabs.setCurrentIndex(self.PROBLEMS)

    def show_dataset(self, built: BuiltDataset, tokenizer: TrainingTokenizer) -> None:
        self.summary.setText(built.summary())
        rows = source_rows(built)
        self.counts.set_rows(rows)
        self._fit_counts_height(len(rows))
        self.counts_view.setVisible(bool(rows))
        pairs = preference_pairs(built)
        self.pair_view.set_pairs([p for p, _ in pairs], held_out=[h for _, h in pairs])
        self.examples.setPlainText(examples_text(built, tokenizer))
        self.histogram.setText(histogram_text(built))
        self.problems.setStringList([str(p) for p in built.problems])
        self._label_tabs(pairs=len(pairs), examples=len(built.items), problems=len(built.problems))
        self.tabs.setVisible(True)
        self.tabs.setCurrentIndex(self.PAIRS if pairs else self.EXAMPLES)

    def _label_tabs(self, *, pairs: int, examples: int, problems: int) -> None:
        self.tabs.setTabText(self.PAIRS, f"Pairs ({pairs})")
        self.tabs.setTabText(self.EXAMPLES, f"Examples ({examples})")
        self.tabs.setTabText(self.PROBLEMS, f"Problems ({problems})")
        self.tabs.setTabVisible(self.PROBLEMS, problems > 0)

    def _fit_counts_height(self, rows: int) -> None:
        """As tall as its rows (up to ROWS_SHOWN): a table of two sources takes two lines, not half the page."""
        view = self.counts_view
        row_height = view.verticalHeader().defaultSectionSize()
        view.setFixedHeight(view.horizontalHeader().sizeHint().height() + row_height * min(max(rows, 1), ROWS_SHOWN)
                            + 2 * view.frameWidth())
