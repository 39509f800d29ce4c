"""The theme: a button that cannot be pressed must not look like one that can."""

from PySide6.QtWidgets import QPushButton

from app import paths


def _centre_colour(button: QPushButton):
    image = button.grab().toImage()
    return image.pixelColor(image.width() // 2, 3)  # near the top edge, clear of the label's text


def test_a_disabled_primary_button_looks_disabled(qtbot):
    button = QPushButton("Download")
    button.setObjectName("primaryButton")
    button.setStyleSheet((paths.resources_dir() / "theme.qss").read_text(encoding="utf-8"))
    qtbot.addWidget(button)
    button.resize(160, 36)
    button.show()
    enabled = _centre_colour(button)
    button.setEnabled(False)
    disabled = _centre_colour(button)
    assert enabled.name() == "#e07a3f"  # the theme's orange
    assert abs(enabled.saturationF() - disabled.saturationF()) > 0.3, (enabled.name(), disabled.name())
