"""The stored PDFs of documents Lexoffice issued (`document_files`, migration 0002): written once with the
document's ledger row, served to the notifier by `routes/documents.py`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from .ledger import DocumentType


@dataclass(frozen=True)
class DocumentFile:
    lexoffice_id: str
    document_key: str
    document_type: DocumentType
    filename: str
    content_type: str
    content: bytes


async def store(conn: asyncpg.Connection, file: DocumentFile) -> None:
    """Keeps the first copy: a document's PDF does not change once issued."""
    await conn.execute(
        """
        INSERT INTO document_files (lexoffice_id, document_key, document_type, filename, content_type, content, sha256)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (lexoffice_id) DO NOTHING
        """,
        file.lexoffice_id,
        file.document_key,
        file.document_type,
        file.filename,
        file.content_type,
        file.content,
        hashlib.sha256(file.content).hexdigest(),
    )


async def find(conn: asyncpg.Pool | asyncpg.Connection, lexoffice_id: str) -> DocumentFile | None:
    row = await conn.fetchrow(
        "SELECT lexoffice_id, document_key, document_type, filename, content_type, content FROM document_files"
        " WHERE lexoffice_id = $1",
        lexoffice_id,
    )
    return DocumentFile(**dict(row)) if row is not None else None


def file_path(lexoffice_id: str) -> str:
    """The bridge's route of a stored document's PDF (internal API key)."""
    return f"/v1/documents/{lexoffice_id}/file"
