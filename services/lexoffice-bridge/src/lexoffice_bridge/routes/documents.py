"""`GET /v1/documents/{lexoffice_id}/file`: the stored PDF of a document Lexoffice issued (internal API key); the
notifier fetches it to mail it to the customer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response

from intplat_common.service import ApiKey, Pool

from .. import document_files

router = APIRouter(prefix="/v1", tags=["documents"], dependencies=[ApiKey])

PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the document's PDF"},
    401: {"description": "missing or invalid X-Internal-Api-Key"},
    404: {"description": "no stored file for this document"},
}


@router.get("/documents/{lexoffice_id}/file", response_class=Response, responses=PDF_RESPONSE)
async def document_file(lexoffice_id: str, pool: Pool) -> Response:
    stored = await document_files.find(pool, lexoffice_id)
    if stored is None:
        raise HTTPException(status_code=404, detail=f"no stored file for document {lexoffice_id}")
    return Response(
        stored.content,
        media_type=stored.content_type,
        headers={"Content-Disposition": f'attachment; filename="{stored.filename}"'},
    )
