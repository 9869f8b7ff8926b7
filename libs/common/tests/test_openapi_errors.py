"""Every service's OpenAPI describes the failures it really sends: the shared error body on each
4xx, and the 400 an ambiguous path or an unparseable body gets (found by the OpenAPI fuzz)."""

import uuid

import httpx
from fastapi import APIRouter
from pydantic import BaseModel

from berth_common.app import create_service_app
from berth_common.config import ServiceSettings
from berth_common.errors import NotFound, error_responses

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


class Note(BaseModel):
    text: str


def build():
    router = APIRouter(prefix="/api/t/v1")

    @router.put("/notes/{note_id}", responses=error_responses(NotFound))
    async def put_note(note_id: uuid.UUID, note: Note) -> Note:
        raise NotFound("No such note")

    @router.get("/notes")
    async def list_notes() -> list[Note]:
        return []

    return create_service_app(
        ServiceSettings(service_name="t"), title="t", routers=[router], docs_prefix="/api/t"
    )


def test_declared_failures_carry_the_shared_error_body():
    document = build().openapi()
    responses = document["paths"]["/api/t/v1/notes/{note_id}"]["put"]["responses"]
    for status in ("400", "404", "422", "429"):
        assert responses[status]["content"]["application/json"]["schema"] == ERROR_REF, status
    body = document["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error"]
    assert body["properties"]["error"]["required"] == ["code", "message"]
    # nothing to refuse on a route without a path parameter or body; the gateway's limit still
    listed = document["paths"]["/api/t/v1/notes"]["get"]["responses"]
    assert "400" not in listed and "429" in listed


async def test_the_failures_sent_are_the_ones_documented():
    app = build()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        documented = (await client.get("/api/t/openapi.json")).json()
        declared = documented["paths"]["/api/t/v1/notes/{note_id}"]["put"]["responses"]
        url = f"/api/t/v1/notes/{uuid.uuid4()}"
        answers = [
            await client.put(url, json={"text": "a"}),  # 404
            await client.put(url, json={"text": 5}),  # 422
            await client.put("/api/t/v1/notes/not-a-uuid", json={"text": "a"}),  # 422
            await client.put(
                url, content=b"--x\r\n", headers={"content-type": "multipart/form-data"}
            ),
        ]
    for answer in answers:
        assert str(answer.status_code) in declared, (answer.status_code, answer.text)
        error = answer.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
