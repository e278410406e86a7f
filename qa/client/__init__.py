"""A small synchronous Python client for the qa HTTP API.

    from qa.client import Client

    with Client("http://127.0.0.1:8000", api_key=None) as qa:
        job = qa.upload(["notes/policy.pdf"], collection="default")   # waits for ingestion
        answer = qa.ask("How long is the loan period?")
        for item in qa.ask_stream("How long is the loan period?"):
            if isinstance(item, str):
                print(item, end="", flush=True)                       # the draft, as written
            else:
                answer = item                                         # the grounded answer
        chat = qa.chat("default")                       # a conversation: follow-ups
        chat.ask("What notice must a landlord give before an inspection?")
        chat.ask("And for a repair?")                   # asked with the turns before it

Every error the server reports (problem+json) is raised as QAClientError with its
status, title and detail, so callers branch on `status` rather than parse bodies.
Transport failures (connection refused, timeouts) stay httpx exceptions: they say
nothing about the request and are usually retried differently.
"""

from qa.client.chat import Chat
from qa.client.client import DEFAULT_TIMEOUT, Client
from qa.client.errors import QAClientError
from qa.client.shapes import (
    Answer,
    Citation,
    Collection,
    Conversation,
    ConversationsPage,
    Document,
    DocumentsPage,
    FilterValue,
    Job,
    JobProgress,
    Message,
    Record,
    SearchResult,
    StreamItem,
    Turn,
    Upload,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "Answer",
    "Chat",
    "Citation",
    "Client",
    "Collection",
    "Conversation",
    "ConversationsPage",
    "Document",
    "DocumentsPage",
    "FilterValue",
    "Job",
    "JobProgress",
    "Message",
    "QAClientError",
    "Record",
    "SearchResult",
    "StreamItem",
    "Turn",
    "Upload",
]
