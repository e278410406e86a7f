"""OpenAI-compatible endpoints, so chat clients and SDKs that speak OpenAI's API can ask
the documents: `POST /v1/chat/completions` and `GET /v1/models`.

`routes` holds the endpoints, `schemas` OpenAI's bodies and replies, `chat` what is
asked of a conversation and how an answer reads in one, `stream` the server-sent
events, `errors` OpenAI's error object on the app's problem responses, and `security`
the one way its key check differs from the other /v1 routes."""

from qa.api.openai.routes import router

__all__ = ["router"]
