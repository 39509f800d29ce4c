"""Make the platform icons from the one source image, hearth.png (1024x1024): hearth.ico (Windows), hearth.icns
(macOS) and hearth-256.png (Linux). Qt scales; both containers hold PNG images (Windows Vista+ and macOS 10.7+
read those), so no image library beyond Qt is needed. Run: python packaging/icons/make_icons.py
"""

from __future__ import annotations

import struct
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QImage

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "hearth.png"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS element types holding PNG data, by pixel size (the @2x types share pixels with the next size up).
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"ic11", 32), (b"icp6", 64), (b"ic12", 64), (b"ic07", 128),
              (b"ic08", 256), (b"ic13", 256), (b"ic09", 512), (b"ic14", 512), (b"ic10", 1024))


def png_bytes(image: QImage, size: int) -> bytes:
    scaled = image.scaled(size, size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    scaled.save(buffer, "PNG")
    return bytes(data.data())


def ico(image: QImage) -> bytes:
    pngs = [png_bytes(image, size) for size in ICO_SIZES]
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries = b""
    for size, png in zip(ICO_SIZES, pngs):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        offset += len(png)
    return header + entries + b"".join(pngs)


def icns(image: QImage) -> bytes:
    body = b""
    for kind, size in ICNS_TYPES:
        png = png_bytes(image, size)
        body += kind + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> None:
    image = QImage(str(SOURCE))
    if image.isNull() or image.width() < 1024:
        raise SystemExit(f"{SOURCE} must be a square PNG of at least 1024 pixels")
    (HERE / "hearth.ico").write_bytes(ico(image))
    (HERE / "hearth.icns").write_bytes(icns(image))
    (HERE / "hearth-256.png").write_bytes(png_bytes(image, 256))


if __name__ == "__main__":
    main()
