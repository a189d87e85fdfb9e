"""Reading a health certificate's QR code from a photo or screenshot a traveller presents."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

from chaincut.errors import InvalidHealthCertificate

__all__ = ["read_qr_text"]

_MAX_PIXELS = 40_000_000  # a phone photo is ~12 MP; anything far larger is refused, not decoded


def read_qr_text(data: bytes) -> str:
    """The text of the first QR code in an image (PNG, JPEG, ...), or a refusal saying why not."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > _MAX_PIXELS:
                raise InvalidHealthCertificate("the image is too large to scan", step="picturedecode")
            image.load()
            found = [
                barcode
                for barcode in zxingcpp.read_barcodes(image)
                if barcode.format == zxingcpp.BarcodeFormat.QRCode
            ]
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidHealthCertificate(
            "the file is not an image that can be read", step="picturedecode"
        ) from None
    if not found:
        raise InvalidHealthCertificate("no QR code could be read in the image", step="picturedecode")
    return str(found[0].text)
