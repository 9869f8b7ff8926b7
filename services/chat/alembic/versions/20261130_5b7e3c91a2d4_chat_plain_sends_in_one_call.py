"""chat: plain sends, one or many, in one call (group commit of concurrent sends)

Revision ID: 5b7e3c91a2d4
Revises: 62715d596891
Create Date: 2026-11-30 12:20:00

`chat.post_plain(...)` takes parallel arrays (one element per send) and, for each send in
(conversation, arrival) order, does what the one-statement send did: raise the conversation's
last_seq under its row lock where the sender may post plainly (a customer in their own open
support conversation; staff in one a person took over), insert the message with that seq
unless its client_msg_id is there already (a retry: the seq goes back); a send without a
client_msg_id or a sender id is never a plain one. One row per send:
`msg_seq` NULL when the send is not a plain one or is a retry (the caller's full path handles
it). Called outside a transaction block it is one round trip and one commit for the batch;
conversations are locked in id order, so two batches never deadlock each other.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b7e3c91a2d4"
down_revision: str | Sequence[str] | None = "62715d596891"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POST_PLAIN = """
CREATE FUNCTION chat.post_plain(
    p_conversation_ids uuid[],
    p_client_msg_ids varchar[],
    p_sender_kinds varchar[],
    p_sender_ids uuid[],
    p_bodies text[]
) RETURNS TABLE (
    ord integer, msg_seq bigint, msg_id uuid,
    msg_created_at timestamptz, msg_updated_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    n bigint;
BEGIN
    IF cardinality(p_conversation_ids) IS DISTINCT FROM cardinality(p_client_msg_ids)
        OR cardinality(p_conversation_ids) IS DISTINCT FROM cardinality(p_sender_kinds)
        OR cardinality(p_conversation_ids) IS DISTINCT FROM cardinality(p_sender_ids)
        OR cardinality(p_conversation_ids) IS DISTINCT FROM cardinality(p_bodies) THEN
        RAISE EXCEPTION 'chat.post_plain: arrays of different lengths'
            USING ERRCODE = '22023';
    END IF;
    FOR i IN
        SELECT u.o FROM unnest(p_conversation_ids) WITH ORDINALITY AS u(cid, o)
        ORDER BY u.cid, u.o
    LOOP
        ord := i;
        msg_seq := NULL;
        msg_id := NULL;
        msg_created_at := NULL;
        msg_updated_at := NULL;
        UPDATE chat.conversations AS c SET last_seq = c.last_seq + 1, updated_at = now()
        WHERE c.id = p_conversation_ids[i]
            AND p_client_msg_ids[i] IS NOT NULL AND p_sender_ids[i] IS NOT NULL AND (
            (p_sender_kinds[i] = 'customer' AND c.customer_id = p_sender_ids[i]
                AND c.kind = 'support' AND c.state <> 'closed')
            OR (p_sender_kinds[i] = 'staff' AND c.state = 'human'))
        RETURNING c.last_seq INTO n;
        IF FOUND THEN
            INSERT INTO chat.messages AS m
                (conversation_id, seq, client_msg_id, sender_kind, sender_id, body, status)
            VALUES (p_conversation_ids[i], n, p_client_msg_ids[i], p_sender_kinds[i],
                p_sender_ids[i], p_bodies[i], 'complete')
            ON CONFLICT (conversation_id, sender_kind, sender_id, client_msg_id) DO NOTHING
            RETURNING m.id, m.created_at, m.updated_at
            INTO msg_id, msg_created_at, msg_updated_at;
            IF FOUND THEN
                msg_seq := n;
            ELSE
                -- a retry: its seq goes back (the row lock is this transaction's)
                UPDATE chat.conversations SET last_seq = last_seq - 1
                WHERE id = p_conversation_ids[i];
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute(POST_PLAIN)


def downgrade() -> None:
    op.execute("DROP FUNCTION chat.post_plain(uuid[], varchar[], varchar[], uuid[], text[])")
