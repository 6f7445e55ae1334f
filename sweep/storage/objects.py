"""Stores on object storage (S3 API, and gs://, az://) through obstore.

obstore (Rust's ``object_store``) was chosen over fsspec/s3fs by measurement
(bench/RESULTS.md, "Object storage"), and because it keeps no listing cache: a marker
another worker wrote is seen by the next listing. Zarr reads and writes through
``zarr.storage.ObjectStore``; the ledger (markers, the creation sentinel) through the
same client.

Credentials, endpoint and region come from the standard environment of each store
(for S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_ENDPOINT_URL``, ``AWS_REGION``; ``AWS_PROFILE`` through boto3 where it is installed).
They are read by the library when a client is made, never copied into a store, a log or a
message: every message made from a library error goes through :func:`reason`, which also
masks the values of the secret variables should a library ever echo one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sweep.storage.errors import StoreError
from sweep.storage.location import StoreURL, redact

#: Environment variables whose values are secrets: never shown, masked if a library echoes one.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
                    "GOOGLE_SERVICE_ACCOUNT_KEY", "AZURE_STORAGE_ACCOUNT_KEY",
                    "AZURE_STORAGE_SAS_KEY", "AZURE_CLIENT_SECRET")
#: Requests in flight at once when many small objects (markers) are read or deleted.
CONCURRENCY = 16
#: A failed request is retried this often (5xx answers, dropped connections), within
#: :data:`RETRY_TIMEOUT`: enough for a flaky network, short enough that a wrong endpoint is
#: refused in seconds.
MAX_RETRIES = 5
RETRY_TIMEOUT = timedelta(seconds=30)
CONNECT_TIMEOUT = "10s"


def endpoint(url: StoreURL) -> str:
    """The endpoint a client for ``url`` talks to, for messages: the environment's
    (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``) or the store's own service."""
    if url.scheme == "s3":
        return redact(os.environ.get("AWS_ENDPOINT_URL_S3")
                      or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3")
    return {"gs": "Google Cloud Storage", "az": "Azure Blob Storage"}[url.scheme]


#: The environment a client is made from: a change (another endpoint, other keys) makes
#: a new client.
_CONFIG_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
                     "AWS_DEFAULT_REGION", "AWS_PROFILE", *SECRET_VARIABLES)


def client(url: StoreURL):
    """The obstore client of ``url``'s prefix (one per process, URL and environment)."""
    return _client(url, tuple(os.environ.get(v) for v in _CONFIG_VARIABLES))


@functools.lru_cache(maxsize=32)
def _client(url: StoreURL, _environment: tuple):
    try:
        from obstore.store import from_url
    except ImportError as exc:
        raise StoreError(f"{url}: store URLs need the obstore package: "
                         "pip install 'token-sweep[cloud]'") from exc
    options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    kwargs: dict[str, Any] = {"retry_config": {"max_retries": MAX_RETRIES,
                                               "retry_timeout": RETRY_TIMEOUT}}
    if url.scheme == "s3":
        where = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if where:
            kwargs["endpoint"] = where
            options["allow_http"] = where.startswith("http://")
        if os.environ.get("AWS_PROFILE") and not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs["credential_provider"] = _profile_credentials()
    try:
        return from_url(f"{url}/", client_options=options, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a bad configuration in the environment
        raise StoreError(f"{url}: cannot make a client: {reason(exc)}") from None


def _profile_credentials():
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError as exc:
        raise StoreError("AWS_PROFILE is set: reading a profile needs boto3 "
                         "(pip install boto3), or set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY") from exc
    return Boto3CredentialProvider(boto3.Session())


def zarr_store(url: StoreURL, read_only: bool = False):
    """``url`` as a Zarr v3 store (``zarr.storage.ObjectStore``)."""
    from zarr.storage import ObjectStore

    return ObjectStore(client(url), read_only=read_only)


def reason(exc: BaseException, url: object = None) -> str:
    """A library error in one line: the S3 error code where there is one, what was tried,
    never a secret (the values of :data:`SECRET_VARIABLES` are masked). ``url``: the
    store it was about (a :class:`StoreURL` names its endpoint; anything else nothing)."""
    text = str(exc)
    code = re.search(r"<Code>([^<]+)</Code>", text)
    url = url if isinstance(url, StoreURL) else None
    where = f" at {endpoint(url)}" if url is not None else ""
    if code and code.group(1) == "NoSuchBucket" and url is not None:
        line = f"the bucket {url.bucket!r} does not exist{where}"
    elif code:
        message = re.search(r"<Message>([^<]+)</Message>", text)
        line = f"{code.group(1)}{where}" + (f": {message.group(1)}" if message else "")
    elif type(exc).__name__ == "PermissionDeniedError" or "403 Forbidden" in text:
        line = f"access denied{where} (403: the credentials are refused, or may not do this)"
    elif type(exc).__name__ == "UnauthenticatedError" or "401 Unauthorized" in text:
        line = f"not authenticated{where} (401: no valid credentials)"
    elif "error sending request" in text or "Connect" in text or "dns error" in text:
        line = f"cannot connect{where} (connection refused, unknown host or timeout)"
    else:
        line = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]
    return mask(line)


def mask(text: str) -> str:
    """``text`` with the value of every set :data:`SECRET_VARIABLES` replaced by ``***``."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _call(url: StoreURL, what: str, fn, *args, missing_ok: bool = False):
    """``fn(*args)`` with every library error made a one-line :class:`StoreError`; with
    ``missing_ok``, an absent object stays a :class:`FileNotFoundError` for the caller."""
    try:
        return fn(*args)
    except StoreError:
        raise
    except FileNotFoundError as exc:
        if missing_ok:
            raise
        raise StoreError(f"{url}: cannot {what}: {reason(exc, url)}") from None
    except Exception as exc:  # noqa: BLE001 - every library error: one line, no secret
        raise StoreError(f"{url}: cannot {what}: {reason(exc, url)}") from None


def is_library_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the object-store library (a network, permission or
    service error, not a damaged object)."""
    return type(exc).__module__.startswith("obstore")


def get(url: StoreURL, key: str) -> bytes | None:
    """The bytes of object ``key`` under ``url`` (``None`` when there is none)."""
    import obstore

    try:
        return bytes(_call(url, f"read {key}", lambda: obstore.get(client(url), key).bytes(),
                           missing_ok=True))
    except FileNotFoundError:
        return None


def _each(fn, items: list) -> list:
    """``fn`` of every item, :data:`CONCURRENCY` requests in flight (the library releases
    the GIL while it waits)."""
    if not items:
        return []
    with ThreadPoolExecutor(min(CONCURRENCY, len(items))) as pool:
        return list(pool.map(fn, items))


def get_many(url: StoreURL, keys: Iterable[str]) -> dict[str, bytes | None]:
    """:func:`get` of many keys, :data:`CONCURRENCY` at a time."""
    keys = list(keys)
    return dict(zip(keys, _each(lambda k: get(url, k), keys), strict=True))


def put(url: StoreURL, key: str, data: bytes) -> None:
    """Write object ``key`` (a PUT: readers see the old object or the new, never a part)."""
    import obstore

    _call(url, f"write {key}", obstore.put, client(url), key, data)


def put_many(url: StoreURL, items: dict[str, bytes]) -> None:
    """:func:`put` of many objects, :data:`CONCURRENCY` at a time."""
    _each(lambda kv: put(url, *kv), list(items.items()))


def has(url: StoreURL, key: str) -> bool:
    """Whether object ``key`` exists under ``url``."""
    import obstore

    try:
        _call(url, f"look up {key}", obstore.head, client(url), key, missing_ok=True)
    except FileNotFoundError:
        return False
    return True


def keys(url: StoreURL, prefix: str = "", limit: int | None = None) -> list[str]:
    """The keys under ``url`` (relative to it) that start with folder ``prefix``; at most
    ``limit`` of them when given (one request where the listing allows)."""
    import obstore

    def listing() -> list[str]:
        found: list[str] = []
        pages = obstore.list(client(url), prefix=prefix or None,
                             chunk_size=min(limit or 1000, 1000))
        for page in pages:
            found.extend(o["path"] for o in page)
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    return _call(url, "list it", listing)


def delete(url: StoreURL, names: Iterable[str]) -> None:
    """Delete objects ``names`` under ``url`` (absent ones are no error)."""
    import obstore

    names = list(names)
    for start in range(0, len(names), 1000):   # S3's DeleteObjects takes 1000 at most
        part = names[start:start + 1000]
        try:
            _call(url, f"delete {len(part)} object(s)", obstore.delete, client(url), part,
                  missing_ok=True)
        except FileNotFoundError:
            # stores without a bulk delete stop at the first absent object: the rest one
            # by one, each absent one skipped
            for name in part:
                with contextlib.suppress(FileNotFoundError):
                    _call(url, f"delete {name}", obstore.delete, client(url), name,
                          missing_ok=True)


def probe(url: StoreURL) -> list[str]:
    """Check, before any work, that ``url``'s endpoint answers, its bucket exists and the
    credentials may list it; returns the first few keys under it (none: nothing there)."""
    return keys(url, limit=5)
