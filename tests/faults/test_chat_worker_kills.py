"""The chat worker SIGKILLed in a loop while a customer keeps talking to their AI agent (a real
ai-agent app deployed from a local repository, streaming its answers over SSE). What chat's
worker does is answer: each customer message in a `bot` conversation makes one agent request
and its task in the message's transaction; the task (acknowledged late, so a killed worker's
answer comes back to the next one) streams the agent's answer into the request's one reply
message, rewritten from the start by a redelivery, and fans it out to the WebSocket clients.
Each kill is aimed at an answer under way (its request begun by the current worker).

Counted per customer message: its answer (a complete agent message "You said: <message>")
lost or duplicated (two different messages) in the conversation, and lost at a WebSocket
client subscribed through Traefik the whole time. Answers begun again by a redelivery (the
same reply message streamed anew) are counted and printed too."""

import uuid
from collections import Counter

import httpx
import pytest
from chat_e2e import AGENT, Listener, messages, open_chat, say
from deploy_e2e import deployed, sign_in, sql
from deploy_testkit import make_repo
from support import register_and_verify

from berth_testing.faults import (
    SteadyLoad,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    settle,
    wait_for,
)

FAULT_SERVICES = ("auth", "deploy", "chat")
FAULT_WORKERS = ("auth", "deploy", "chat")
KILLS = 3


class MidAnswer:
    """Aims each kill at an answer under way: a request the current worker began (running,
    at an attempt no earlier kill found: not one the last kill left running)."""

    def __init__(self, plat) -> None:
        self.plat = plat
        self.seen: set[tuple[str, int]] = set()

    def __call__(self, _kill: int) -> str:
        def fresh() -> set[tuple[str, int]]:
            query = "SELECT id::text, attempts FROM chat.agent_requests WHERE status = 'running'"
            return set(sql(self.plat, query)) - self.seen

        try:
            self.seen |= wait_for(fresh, 60, "an answer under way", interval=0.02)
        except TimeoutError:
            return "elsewhere"
        return "an answer"


def answers(found: list[dict], questions: list[str]) -> dict[str, int]:
    """Per question, the different complete agent messages that answer it."""
    ids: dict[str, set[str]] = {q: set() for q in questions}
    for m in found:
        if m["sender_kind"] == "agent" and m["status"] == "complete":
            question = m["body"].removeprefix("You said: ")
            if question in ids:
                ids[question].add(m["id"])
    return {q: len(i) for q, i in ids.items()}


@pytest.mark.timeout(900)
def test_agent_answers_survive_chat_worker_kills_each_answered_once(fault_platform, deploy_node):
    plat = fault_platform.platform
    repo = make_repo(plat.work.parent / f"agent-{uuid.uuid4().hex[:6]}", {"app.py": AGENT})
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        who = sign_in(edge, register_and_verify(plat, edge))
        agent = deployed(edge, plat, who, f"file://{repo}", template="ai-agent")
        chat = open_chat(edge, who, agent)
        listener = Listener(plat, who, chat)
        listener.start()
        try:
            wait_for(lambda: any(f["type"] == "subscribed" for f in listener.frames), 30, "sub")

            def ask() -> str:
                question = f"question {uuid.uuid4().hex[:8]}"
                say(edge, who, chat, question)
                return question

            with SteadyLoad(ask, pause=1.0) as load:
                landed = kill_worker_repeatedly(plat, "chat", KILLS, load, aim=MidAnswer(plat))
            assert load.refused == [], load.refused[:5]
            questions = list(load.done)
            per_question = settle(
                lambda: answers(messages(edge, who, chat), questions), "every question answered"
            )
            per_question_live = settle(
                lambda: answers(listener.messages(), questions),
                "every answer at the WebSocket client",
                30,
            )
            history = messages(edge, who, chat)
        finally:
            listener.close()
    lost, duplicated = lost_and_duplicated(per_question)
    lost_live, _ = lost_and_duplicated(per_question_live)
    notices = sum(1 for m in history if m["sender_kind"] == "system")
    requests = Counter(
        dict(
            sql(
                plat,
                "SELECT status, count(*) FROM chat.agent_requests "
                "WHERE conversation_id = :c GROUP BY status",
                c=uuid.UUID(chat["id"]),
            )
        )
    )
    [(restarted,)] = sql(
        plat,
        "SELECT count(*) FROM chat.agent_requests WHERE conversation_id = :c AND attempts > 1",
        c=uuid.UUID(chat["id"]),
    )
    record(
        f"chat worker kills: {KILLS} SIGKILLs (during {', '.join(landed)}), {len(questions)} questions to the agent, "
        f"answers lost {lost}, duplicated {duplicated}, lost at the WebSocket client "
        f"{lost_live}, agent requests {dict(requests)}, notices instead of answers {notices}, "
        f"answers begun again after a kill {restarted}"
    )
    assert (lost, duplicated, lost_live) == (0, 0, 0)
    assert requests == {"done": len(questions)}
    assert notices == 0
