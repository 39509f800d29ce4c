"""The theme: a button that cannot be pressed must not look like one that can; a spin box shows its arrows."""

import re

from PySide6.QtWidgets import QPushButton, QSpinBox

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


SPIN_SUB_CONTROLS = ("::up-button", "::down-button", "::up-arrow", "::down-arrow")


def _rules(qss: str) -> list[tuple[str, str]]:
    """(selectors, declarations) of each rule, comments dropped."""
    qss = re.sub(r"/\*.*?\*/", "", qss, flags=re.S)
    return [(m.group(1).strip(), m.group(2)) for m in re.finditer(r"([^{}]+)\{([^}]*)\}", qss)]


def test_spin_box_sub_controls_are_styled_with_images_that_exist():
    # A spin box whose border the theme styles loses Fusion's buttons: each sub-control needs its own rule.
    rules = _rules((paths.resources_dir() / "theme.qss").read_text(encoding="utf-8"))
    for sub_control in SPIN_SUB_CONTROLS:
        assert any(f"QAbstractSpinBox{sub_control}" in selectors for selectors, _ in rules), sub_control
    for arrow in ("::up-arrow", "::down-arrow"):
        declarations = [d for s, d in rules if f"QAbstractSpinBox{arrow}" in s]
        assert any("image: url(theme:" in d for d in declarations), arrow
    images = re.findall(r"url\(theme:([^)]+)\)", (paths.resources_dir() / "theme.qss").read_text(encoding="utf-8"))
    assert images
    for name in images:
        assert (paths.resources_dir() / name).is_file(), name


def _bright_pixels(image, left: int, top: int, right: int, bottom: int) -> int:
    """Pixels light enough to be an arrow on the dark button."""
    return sum(image.pixelColor(x, y).lightnessF() > 0.55 for x in range(left, right) for y in range(top, bottom))


def test_spin_box_arrows_are_drawn_and_dim_at_the_limit(qtbot):
    from app.ui.app import theme_style_sheet

    box = QSpinBox()
    box.setStyleSheet(theme_style_sheet())
    box.setRange(0, 10)
    box.setValue(5)
    qtbot.addWidget(box)
    box.resize(140, 34)
    box.show()
    qtbot.waitExposed(box)
    image = box.grab().toImage()
    w, h = image.width(), image.height()
    up, down = (w - 20, 2, w - 2, h // 2 - 1), (w - 20, h // 2 + 1, w - 2, h - 2)
    assert _bright_pixels(image, *up) >= 8 and _bright_pixels(image, *down) >= 8  # both arrows, in light grey
    box.setValue(10)  # at the maximum, up is off: its arrow is drawn dim
    image = box.grab().toImage()
    assert _bright_pixels(image, *up) == 0 and _bright_pixels(image, *down) >= 8
