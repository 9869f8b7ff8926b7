"""Helpers of the frontend's in-process tests."""

import re

import httpx

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


async def csrf_token(client: httpx.AsyncClient, page: str = "/login") -> str:
    html = (await client.get(page)).text
    found = CSRF_INPUT.search(html)
    assert found, html[:500]
    return found.group(1)
