"""Uploaded documents: type checked by content, names sanitised, stored under generated ids."""

import hashlib
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

# What partners may upload: PDFs, images and office files, recognised by their first bytes.
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc, .xls, .ppt
]
_OFFICE_XML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


class UnsupportedFile(ValueError):
    pass


def sniff_content_type(data: bytes) -> str:
    """The file's type from its content; UnsupportedFile for anything not on the allow-list."""
    head = data[:16]
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as error:
            raise UnsupportedFile("a damaged zip archive") from error
        if "[Content_Types].xml" in names:
            for prefix, content_type in _OFFICE_XML.items():
                if any(name.startswith(prefix) for name in names):
                    return content_type
        raise UnsupportedFile("a zip archive that is not an office document")
    raise UnsupportedFile("only PDF, images (PNG, JPEG, GIF, WebP) and office files are accepted")


def sanitize_filename(name: str) -> str:
    """A display name safe to show and to send back: no path, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[\"<>|:*?]", "_", name).strip(" .")
    return name[:200] or "document"


@dataclass(frozen=True)
class StoredFile:
    storage_key: str
    size: int
    sha256: str
    content_type: str


class DocumentStorage:
    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)

    def save(self, data: bytes) -> StoredFile:
        content_type = sniff_content_type(data)
        key = uuid.uuid4().hex
        self._root.mkdir(parents=True, exist_ok=True)
        path = self._root / key
        path.write_bytes(data)
        return StoredFile(
            storage_key=key,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type,
        )

    def path(self, storage_key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", storage_key):
            raise ValueError("not a storage key")
        return self._root / storage_key

    def delete(self, storage_key: str) -> None:
        self.path(storage_key).unlink(missing_ok=True)
