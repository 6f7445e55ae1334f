"""Where a store lives: a folder on this machine, or a prefix on an object store.

A sweep file's ``store:`` and the ``--store`` option take either a local path or a URL
``s3://BUCKET/PREFIX/NAME.zarr`` (``gs://`` and ``az://`` too: they go through the same
object-store library, see :mod:`sweep.storage.objects`). ``file://`` URLs are local paths.
Nothing here imports the object-store library: parsing a URL is plain text work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: The object stores a URL may name (``file://`` is a local path).
OBJECT_SCHEMES = ("s3", "gs", "az")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, order=True)
class StoreURL:
    """A store on an object store: ``SCHEME://BUCKET/PREFIX``, with no credentials in it
    (they come from the environment: see :mod:`sweep.storage.objects`)."""

    scheme: str
    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}"

    @property
    def name(self) -> str:
        """The last part of the prefix (``name.zarr``), as ``Path.name`` is for a folder."""
        return self.prefix.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        """:attr:`name` without its last suffix, as ``Path.stem``."""
        return Path(self.name).stem


#: A store's place: a local folder or an object-store prefix.
Where = Path | StoreURL


def parse(text: str | Path | StoreURL) -> Where:
    """A store's place from a sweep file's ``store:`` or a ``--store``/``STORE`` argument.

    Raises :class:`ValueError`, saying what was expected, for a URL of another scheme, one
    without a bucket or a prefix, and one carrying credentials, a query or a fragment.
    """
    if isinstance(text, StoreURL | Path):
        return text
    text = str(text)
    match = _SCHEME.match(text)
    if match is None:
        return Path(text)
    scheme = match.group(1).lower()
    parts = urlsplit(text)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"store URL {text!r}: a file:// URL names a path on this machine "
                             "(file:///path/to/name.zarr), not a host")
        return Path(unquote(parts.path))
    if scheme not in OBJECT_SCHEMES:
        raise ValueError(f"store URL {text!r}: scheme {scheme!r} is not supported; expected "
                         "s3://, gs://, az://, file:// or a local path")
    if "@" in parts.netloc or parts.password is not None:
        raise ValueError(f"store URL {redact(text)!r}: credentials do not belong in "
                         "a store URL (they would be recorded with the store); set them in the "
                         "environment (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or a "
                         "profile)")
    if parts.query or parts.fragment:
        raise ValueError(f"store URL {redact(text)!r}: expected no '?' query or '#' fragment; "
                         "settings such as the endpoint come from the environment "
                         "(for S3: AWS_ENDPOINT_URL, AWS_REGION)")
    prefix = parts.path.strip("/")
    if not parts.netloc or not prefix:
        raise ValueError(f"store URL {text!r}: expected {scheme}://BUCKET/PREFIX/NAME.zarr "
                         "(a bucket and a name inside it)")
    if any(p in ("", ".", "..") for p in prefix.split("/")):
        raise ValueError(f"store URL {text!r}: expected a prefix without empty, '.' or '..' "
                         "parts")
    return StoreURL(scheme, parts.netloc, prefix)


def redact(text: str) -> str:
    """A URL's text without what may hold a secret: the user part before an ``@`` in its
    host (``***@``) and any query or fragment (a presigned URL's signature and token:
    ``?***``). Text that is not a URL is returned unchanged."""
    head, sep, rest = text.partition("://")
    if not sep:
        return text
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    rest, tail = rest[:cut], ("?***" if cut < len(rest) else "")
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[-1]
    return f"{head}{sep}{host}{slash}{path}{tail}"


def beside(where: Where) -> Path:
    """The local folder that files made from a store go to by default (charts): the
    store's own folder, or the working folder for a store on an object store."""
    return Path(".") if isinstance(where, StoreURL) else where.parent


def is_url(where: object) -> bool:
    """Whether ``where`` (parsed or not) names an object store rather than a local path."""
    if isinstance(where, StoreURL):
        return True
    if isinstance(where, str):
        match = _SCHEME.match(where)
        return match is not None and match.group(1).lower() != "file"
    return False
