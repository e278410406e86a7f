"""Mail (.eml, and .mbox with one document a message): the From, To, Cc, Date and
Subject headers as metadata and as the first lines of the text (so a question naming
the sender or the date finds the message), the subject as the title, the plain body
(else the HTML body's text); each attachment of a supported type is read by its own
loader as its own document, "<mail id>/<file name>".

An attachment is no larger than the mail that carries it, and is read with the same
limits; at most QA_MAX_ATTACHMENTS are read from one file (an mbox counts them across
its messages), and mails attached to mails are opened QA_MAX_MAIL_DEPTH deep. An
attachment that cannot be read is logged and left out; the mail is still read.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
import mailbox
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

from qa.errors import LoaderError
from qa.ingest import loaders
from qa.ingest.loaders.html_body import body_lines
from qa.ingest.loaders.limits import LoaderLimits
from qa.records import Document

log = logging.getLogger(__name__)

_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_ATTACHED_MAIL = "message.eml"
_MAIL_SUFFIXES = {".eml", ".mbox"}


class _Attachments:
    """Attachments still to be read from the file, and what each was called."""

    def __init__(self, limits: LoaderLimits) -> None:
        self.left = limits.attachments
        self.limit = limits.attachments

    def take(self, where: str) -> bool:
        if self.left <= 0:
            log.warning(
                "%s: left out, past %d attachments (the limit, QA_MAX_ATTACHMENTS)",
                where,
                self.limit,
            )
            return False
        self.left -= 1
        return True


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the policy cannot parse
        value = message.get_all(name, failobj=[""])[0] if name in message else ""
    return " ".join(str(value or "").split())


def _body(message: EmailMessage, document_id: str, limits: LoaderLimits) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        return "\n".join(body_lines(content, document_id, limits)[0])
    lines = [line.rstrip() for line in content.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def _file_name(part: EmailMessage, number: int) -> str:
    """The attachment's own name, without any folder in it (it is only a label)."""
    if part.get_content_type() == "message/rfc822":
        name = part.get_filename() or _ATTACHED_MAIL
        return name if name.lower().endswith(".eml") else f"{name}.eml"
    name = (part.get_filename() or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name if name.strip(".") else f"attachment-{number}"


def _payload(part: EmailMessage) -> bytes:
    if part.get_content_type() == "message/rfc822":
        attached = part.get_payload()
        inner = attached[0] if isinstance(attached, list) else attached
        return bytes(inner.as_bytes()) if isinstance(inner, email.message.Message) else b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _attachment_documents(
    part: EmailMessage,
    document_id: str,
    limits: LoaderLimits,
    source: str,
    attachments: _Attachments,
) -> Iterator[Document]:
    """The documents of one attachment. An attached mail is read here, sharing the
    file's attachment count; an attached mbox is read without attachments of its own,
    so that QA_MAX_ATTACHMENTS bounds the whole file."""
    data = _payload(part)
    if not data:
        raise LoaderError(f"{document_id}: attachment is empty")
    suffix = Path(document_id).suffix.lower()
    if suffix in _MAIL_SUFFIXES:
        if limits.mail_depth <= 0:
            raise LoaderError(
                f"{document_id}: a mail attached deeper than the limit (QA_MAX_MAIL_DEPTH)"
            )
        limits = dataclasses.replace(limits, mail_depth=limits.mail_depth - 1)
    if suffix == ".eml":
        message = _parse(data)
        documents = list(_message_documents(message, document_id, source, limits, attachments))
    else:
        if suffix == ".mbox":
            limits = dataclasses.replace(limits, attachments=0)
        with tempfile.TemporaryDirectory(prefix="qa-attachment-") as folder:
            # A fixed name: the sender's file name never reaches the file system.
            path = Path(folder) / f"attachment{suffix}"
            path.write_bytes(data)
            documents = list(loaders.load(path, document_id, max_bytes=len(data), limits=limits))
    for document in documents:
        document.source = source
        document.metadata.setdefault("attached_to", document_id.rsplit("/", 1)[0])
    yield from documents


def _message_documents(
    message: EmailMessage,
    document_id: str,
    source: str,
    limits: LoaderLimits,
    attachments: _Attachments,
) -> Iterator[Document]:
    headers = {name: _header(message, name) for name in _HEADERS}
    header_lines = [f"{name}: {value}" for name, value in headers.items() if value]
    body = _body(message, document_id, limits)
    text = "\n".join(header_lines) + ("\n\n" + body if body else "")
    if not text.strip():
        raise LoaderError(f"{document_id}: the mail has no headers and no text")
    yield Document(
        id=document_id,
        text=text,
        title=headers["Subject"] or Path(source).stem,
        metadata={name.lower(): value for name, value in headers.items() if value},
        source=source,
    )
    used: set[str] = set()
    for number, part in enumerate(message.iter_attachments(), start=1):
        name = _file_name(part, number)
        stem, suffix = Path(name).stem, Path(name).suffix
        copy = 2
        while name in used:
            name, copy = f"{stem} ({copy}){suffix}", copy + 1
        used.add(name)
        where = f"{document_id}/{name}"
        if not loaders.supported(Path(name)):
            log.info("%s: attachment of a type not read, left out", where)
            continue
        if not attachments.take(where):
            continue
        try:
            # Collected first, so a failing attachment leaves none of its documents.
            found = list(_attachment_documents(part, where, limits, source, attachments))
        except LoaderError as exc:
            log.warning("%s: attachment left out: %s", document_id, exc.detail)
            continue
        yield from found


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # what policy.default builds
    return message


def load_eml(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    message = _parse(path.read_bytes())
    yield from _message_documents(message, document_id, str(path), limits, _Attachments(limits))


def load_mbox(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    """One document a message, "<mbox id>/<n>" from 1 in the file's order."""
    box = mailbox.mbox(str(path), create=False)
    attachments = _Attachments(limits)
    count = 0
    try:
        for number, key in enumerate(box.keys(), start=1):
            message = _parse(box.get_bytes(key))
            count += 1
            yield from _message_documents(
                message, f"{document_id}/{number}", str(path), limits, attachments
            )
    finally:
        box.close()
    if not count:
        raise LoaderError(f"{document_id}: no messages in the mbox file")
