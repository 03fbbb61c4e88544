"""The voting web app (Starlette): a blind, keyboard-driven A/B page per annotator, plus admin endpoints.

Annotators open ``/?token=<their token>``; in a browser without a session the token moves into an
HttpOnly cookie; a browser already signed in as someone else is asked to confirm the switch first. The
page loads pairs from ``/api/next`` and posts votes to ``/api/votes``. Media are served by opaque id to the
annotator they are assigned to. Admin endpoints (``/api/admin/stats``, ``/api/admin/export``) need
``Authorization: Bearer <admin token>``. A vote is acknowledged only after SQLite committed it to disk.
"""

from __future__ import annotations

import html
import ipaddress
import json
import socket
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fpeval.votes.annotation import AnnotationSession
from fpeval.votes.store import ConflictingVote, InvalidVote, NotAssigned, UnknownPair, VoteError
from fpeval.votes.study import Study

COOKIE = "fpeval_token"
MAX_BODY_BYTES = 4096
MAX_ID_CHARS = 100
VOTE_FIELDS = {"uuid", "pair_id", "choice", "time_on_task_s"}
ERROR_STATUS = {UnknownPair: 404, NotAssigned: 403, ConflictingVote: 409, InvalidVote: 422}
STATIC = Path(str(resources.files("fpeval.votes") / "static"))


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class SecurityHeaders:
    """Pure ASGI middleware: hardening headers on every response, no caching of API answers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault(
                    "Content-Security-Policy",
                    "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; object-src 'none'; "
                    "frame-ancestors 'none'",
                )
                if api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def read_json(request: Request, limit: int) -> dict:
    """The request body as a JSON object, refusing oversized, non-JSON and malformed bodies."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise HTTPError(413, f"request body larger than {limit} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPError(415, "send the vote as JSON (Content-Type: application/json)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPError(413, f"request body larger than {limit} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPError(400, "malformed JSON body") from None
    except RecursionError:
        raise HTTPError(400, "JSON body nested too deeply") from None
    if not isinstance(data, dict):
        raise HTTPError(400, "the JSON body must be an object")
    if any(isinstance(v, (dict, list)) for v in data.values()):
        raise HTTPError(422, "the JSON body must be a flat object (strings and numbers only)")
    return data


def valid_id(value) -> bool:
    """A printable string of 1..MAX_ID_CHARS characters that UTF-8 can store (no lone surrogates)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS or not value.isprintable():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BlindFileResponse(FileResponse):
    """A file response without Last-Modified or ETag: file times would reveal the design order."""

    def set_stat_headers(self, stat_result) -> None:
        self.headers.setdefault("content-length", str(stat_result.st_size))


SWITCH_PAGE = """<!doctype html><meta charset="utf-8"><title>Switch annotator?</title>
<p>This browser is already signed in for another annotator of this study.</p>
<p>Open this link only if it was given to you. Switch this browser to the link's annotator?</p>
<form method="post" action="/session"><input type="hidden" name="token" value="{token}">
<button type="submit">Switch</button> <a href="/">Keep the current session</a></form>"""


def _signed_in(token: str) -> Response:
    response = RedirectResponse("/", status_code=303)  # the token leaves the address bar
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=30 * 86400)
    return response


def check_vote(data: dict) -> None:
    """A vote body has uuid, pair_id and choice (short printable strings) and maybe time_on_task_s."""
    unknown = set(data) - VOTE_FIELDS
    if unknown:
        raise HTTPError(422, f"unknown field(s): {', '.join(sorted(unknown))}")
    missing = {"uuid", "pair_id", "choice"} - set(data)
    if missing:
        raise HTTPError(422, f"missing field(s): {', '.join(sorted(missing))}")
    if not all(valid_id(data[k]) for k in ("uuid", "pair_id", "choice")):
        raise HTTPError(
            422, f"uuid, pair_id and choice must be printable strings of 1-{MAX_ID_CHARS} characters"
        )
    t = data.get("time_on_task_s")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))):
        raise HTTPError(422, "time_on_task_s must be a number of seconds")


class _Endpoints:
    """The voting page's handlers for one study: annotators by token, admins by bearer token."""

    def __init__(self, study: Study, max_body_bytes: int):
        self.study, self.store, self.max_body_bytes = study, study.store, max_body_bytes

    def annotator_of(self, request: Request) -> str:
        token = _bearer(request) or request.cookies.get(COOKIE)
        if not token:
            raise HTTPError(401, "missing annotator token: open your personal link (…/?token=…)")
        annotator = self.store.annotator_for_token(token) if valid_id(token) else None
        if annotator is None:
            raise HTTPError(401, "unknown annotator token")
        return annotator

    def require_admin(self, request: Request) -> None:
        token = _bearer(request)
        if not token:
            raise HTTPError(401, "missing admin token (Authorization: Bearer <admin token>)")
        if not self.store.is_admin(self.study.study_id, token):
            raise HTTPError(403, "wrong admin token")

    async def _known(self, token: str | None) -> bool:
        return (
            bool(token)
            and valid_id(token)
            and (await run_in_threadpool(self.store.annotator_for_token, token) is not None)
        )

    async def index(self, request: Request) -> Response:
        token = request.query_params.get("token")
        if token is None:
            return FileResponse(STATIC / "index.html", media_type="text/html")
        if not await self._known(token):
            return PlainTextResponse("unknown annotator token", status_code=401)
        current = request.cookies.get(COOKIE)
        if current != token and await self._known(current):  # someone else's session: ask first
            return HTMLResponse(SWITCH_PAGE.format(token=html.escape(token, quote=True)))
        return _signed_in(token)

    async def switch_session(self, request: Request) -> Response:
        if (
            request.headers.get("content-type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            raise HTTPError(415, "send the confirmation form")
        body = await request.body()
        if len(body) > self.max_body_bytes:
            raise HTTPError(413, f"request body larger than {self.max_body_bytes} bytes")
        token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
        if not await self._known(token):
            return PlainTextResponse("unknown annotator token", status_code=401)
        return _signed_in(token)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    def _view(self, annotator: str) -> dict:
        session = AnnotationSession(self.study, annotator)
        pair = session.current()
        if pair is not None:
            pair = {
                "pair_id": pair["pair_id"],
                "video": f"/media/{pair['video']}",
                "image": f"/media/{pair['image']}" if pair["image"] else None,
                "prompt": pair["prompt"],
            }
        return {"annotator": annotator, "progress": session.progress(), "pair": pair}

    async def next_pair(self, request: Request) -> Response:
        annotator = await run_in_threadpool(self.annotator_of, request)
        return JSONResponse(await run_in_threadpool(self._view, annotator))

    def _submit(self, annotator: str, data: dict) -> dict:
        session = AnnotationSession(self.study, annotator)
        stored = session.submit(data["uuid"], data["pair_id"], data["choice"], data.get("time_on_task_s"))
        return {"stored": stored, "duplicate": not stored, "progress": session.progress()}

    async def post_vote(self, request: Request) -> Response:
        annotator = await run_in_threadpool(self.annotator_of, request)  # before anything of the body is read
        data = await read_json(request, self.max_body_bytes)
        check_vote(data)
        result = await run_in_threadpool(self._submit, annotator, data)
        return JSONResponse(result, status_code=201 if result["stored"] else 200)

    async def media(self, request: Request) -> Response:
        annotator = await run_in_threadpool(self.annotator_of, request)
        media_id = request.path_params["media_id"]
        if not valid_id(media_id):
            raise HTTPError(404, "no such media")
        visible = await run_in_threadpool(
            self.store.media_visible_to, self.study.study_id, annotator, media_id
        )
        found = self.study.media_path(media_id) if visible else None
        if found is None:
            raise HTTPError(404, "no such media")
        path, mime = found
        return BlindFileResponse(path, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})

    async def admin_stats(self, request: Request) -> Response:
        self.require_admin(request)
        return JSONResponse(await run_in_threadpool(study_stats, self.study))

    async def admin_export(self, request: Request) -> Response:
        self.require_admin(request)
        fmt = request.query_params.get("format", "csv")
        annotators = request.query_params.get("annotators") or None
        if fmt not in ("csv", "json"):
            raise HTTPError(422, "format must be csv or json")
        if annotators not in (None, "all", "humans", "judges"):
            raise HTTPError(422, "annotators must be all, humans or judges")
        votes = await run_in_threadpool(self.store.votes, self.study.study_id, annotators)
        if fmt == "csv":
            return Response(votes.to_csv(index=False), media_type="text/csv")
        return Response(votes.to_json(orient="records", date_format="iso"), media_type="application/json")


async def _on_http_error(request: Request, exc: HTTPError) -> Response:
    return _error(exc.status, exc.message)


async def _on_vote_error(request: Request, exc: VoteError) -> Response:
    status = next((s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 400)
    return _error(status, str(exc))


def create_app(study: Study | str | Path, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The ASGI app for one study folder."""
    study = study if isinstance(study, Study) else Study.open(study)
    api = _Endpoints(study, max_body_bytes)
    routes = [
        Route("/", api.index),
        Route("/session", api.switch_session, methods=["POST"]),
        Route("/api/health", api.health),
        Route("/api/next", api.next_pair),
        Route("/api/votes", api.post_vote, methods=["POST"]),
        Route("/media/{media_id}", api.media),
        Route("/api/admin/stats", api.admin_stats),
        Route("/api/admin/export", api.admin_export),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPError: _on_http_error, VoteError: _on_vote_error},
    )


def study_stats(study: Study) -> dict:
    """Admin summary: pairs, votes, and per annotator progress, gold accuracy and swap consistency."""
    from metrics.agreement import gold_accuracy, swap_consistency

    store = study.store
    pairs = store.pairs(study.study_id)
    votes = store.votes(study.study_id)
    per = {}
    for annotator in sorted(set(store.annotators()["annotator_id"])):
        done, total = store.progress(study.study_id, annotator)
        mine = votes[votes["annotator"] == annotator]
        if total == 0 and mine.empty:
            continue
        per[annotator] = {
            "assigned": total,
            "voted": int(len(mine)),
            "choices": {k: int(v) for k, v in mine["choice"].value_counts().items()},
            "median_time_on_task_s": None if mine.empty else _num(mine["time_on_task_s"].median()),
        }
    gold = gold_accuracy(votes) if not votes.empty else None
    swap = swap_consistency(votes) if not votes.empty else None
    for annotator, row in per.items():
        if gold is not None and annotator in gold.index:
            row["gold_accuracy"] = _num(gold.loc[annotator, "accuracy"])
        if swap is not None and annotator in swap.index:
            row["swap_consistency"] = _num(swap.loc[annotator, "consistency"])
    return {
        "study": study.study_id,
        "pairs": {k: int(v) for k, v in pairs["kind"].value_counts().items()},
        "votes": int(len(votes)),
        "annotators": per,
    }


def _num(x):
    return None if x != x else float(x)  # NaN -> null


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning"
) -> None:
    """Run the app with uvicorn; ``port=0`` picks a free port. Prints the address once listening."""
    import uvicorn

    study = Study.open(study_dir)
    app = create_app(study)
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets (else ~40 ms per request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:  # busy port, unknown host name, address not on this machine
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"serving study {study.study_id} on http://{shown}:{bound}/  (annotators open /?token=<token>)",
        flush=True,
    )
    if not _is_loopback(host):
        print(f"warning: listening on {host}, reachable from other machines; use HTTPS in front", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))
    server.run(sockets=[sock])
