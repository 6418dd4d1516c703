"""Files both ways: downloading what people share with the bot (``url_private``, with
the bot token, size-capped, from Slack's own hosts only) and uploading what the core
sends (Slack's v2 external upload: ``files.getUploadURLExternal``, the upload, then
``files.completeUploadExternal``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import aiohttp

from adapters.slack.api import SlackApi, SlackRefused, SlackUnavailable
from adapters.slack.translate import FileRef
from bot.events import IncomingFile
from bot.replies import OutgoingFile

SLACK_FILE_HOSTS = frozenset({"files.slack.com", "files-edu.slack.com", "files-gov.slack.com"})
CHUNK = 64 * 1024


class TooBig(Exception):
    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"{name} is larger than {limit} bytes")
        self.name = name
        self.size = size
        self.limit = limit


def allowed_hosts(api_url: str) -> frozenset[str]:
    """Slack's file hosts, and the API's own host (a proxy or a local test double): the
    bot token is never sent anywhere else, whatever a payload says."""
    host = urlsplit(api_url).hostname
    return SLACK_FILE_HOSTS | ({host} if host else set())


async def download(api: SlackApi, ref: FileRef, *, limit: int, hosts: Iterable[str]) -> IncomingFile:
    """Fetch one file; raise :class:`TooBig` past ``limit`` bytes (without reading it all)."""
    if ref.size > limit:
        raise TooBig(ref.name, ref.size, limit)
    parts = urlsplit(ref.url)
    if parts.scheme not in ("https", "http") or parts.hostname not in set(hosts):
        raise SlackRefused("files.download", "untrusted_host")
    if parts.scheme == "http" and parts.hostname in SLACK_FILE_HOSTS:
        raise SlackRefused("files.download", "insecure_url")
    try:
        async with api.session.get(
            ref.url, headers={"Authorization": f"Bearer {api.token}"}, allow_redirects=False
        ) as response:
            if response.status in (401, 403, 404):
                raise SlackRefused("files.download", f"http_{response.status}")
            if response.status != 200:
                raise SlackUnavailable("files.download", f"http_{response.status}")
            if response.content_type == "text/html":
                # Slack answers a bad token with its sign-in page, not a 401.
                raise SlackRefused("files.download", "not_a_file")
            declared = response.content_length
            if declared is not None and declared > limit:
                raise TooBig(ref.name, declared, limit)
            data = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                data.extend(chunk)
                if len(data) > limit:
                    raise TooBig(ref.name, len(data), limit)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SlackUnavailable("files.download", type(exc).__name__) from None
    return IncomingFile(name=ref.name, data=bytes(data), content_type=ref.mimetype)


async def upload(
    api: SlackApi,
    files: Sequence[OutgoingFile],
    *,
    channel: str,
    thread_ts: str | None,
    interactive: bool,
) -> list[str]:
    """Share ``files`` in ``channel`` (and thread); returns the new file ids."""
    ids: list[dict[str, str]] = []
    for f in files:
        ticket = await api.call(
            "files.getUploadURLExternal",
            interactive=interactive,
            params={"filename": f.name, "length": len(f.data)},
        )
        url, file_id = ticket.get("upload_url"), ticket.get("file_id")
        if not isinstance(url, str) or not isinstance(file_id, str):
            raise SlackUnavailable("files.getUploadURLExternal", "no_upload_url")
        try:
            async with api.session.post(
                url, data=f.data, headers={"Content-Type": f.content_type or "application/octet-stream"}
            ) as response:
                if response.status != 200:
                    raise SlackUnavailable("files.upload", f"http_{response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SlackUnavailable("files.upload", type(exc).__name__) from None
        ids.append({"id": file_id, "title": f.name})
    if not ids:
        return []
    params: dict[str, object] = {"files": ids, "channel_id": channel}
    if thread_ts:
        params["thread_ts"] = thread_ts
    await api.call("files.completeUploadExternal", interactive=interactive, params=params)
    return [i["id"] for i in ids]
