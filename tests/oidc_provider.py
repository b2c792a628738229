"""A real OpenID Connect provider for the sign-in tests: `tests/oidc/provider.mjs`, the
OpenID-certified `oidc-provider` under Node, on a free port of 127.0.0.1, and a browser of
our own (requests) that signs in on its pages."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from bs4 import BeautifulSoup

HERE = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "screening-test"
CLIENT_SECRET = "screening-test-secret-" + "s" * 24


@dataclass(frozen=True)
class Provider:
    issuer: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_provider(
    accounts: dict[str, dict], base_url: str, tls: tuple[Path, Path] | None = None
) -> Iterator[Provider]:
    """The provider, over https when `tls` gives its (certificate, key) files."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").exists():
        if os.environ.get("CI"):
            raise RuntimeError("the OpenID provider needs Node and `make test` (npm ci)")
        pytest.skip("no Node or tests/oidc/node_modules: run make test")
    port = free_port()
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{base_url}/login/sso/callback"],
        "post_logout_redirect_uris": [f"{base_url}/login"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    environ = {
        **os.environ,
        "PORT": str(port),
        "CLIENTS": json.dumps([client]),
        "ACCOUNTS": json.dumps(accounts),
        **({"TLS_CERT": str(tls[0]), "TLS_KEY": str(tls[1])} if tls else {}),
    }
    process = subprocess.Popen(
        [node, str(HERE / "provider.mjs")],
        cwd=HERE,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its warnings about development defaults
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening "), f"the provider did not start: {first!r}"
        yield Provider(first.split()[1])
    finally:
        process.terminate()
        process.wait(timeout=10)


class ProviderBrowser:
    """The staff member's browser on the provider's pages (its own cookies)."""

    def __init__(self, base_url: str, verify: bool | str = True):
        self.base_url = base_url
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = verify  # the trust's own certificate authority, in a test

    def follow(self, url: str) -> requests.Response:
        """GET and follow redirects until one leads back to our service (the reply's url)."""
        while True:
            reply = self.http.get(url, allow_redirects=False, timeout=10)
            location = reply.headers.get("Location")
            if reply.status_code not in (302, 303) or location is None:
                return reply
            url = urljoin(url, location)
            if url.startswith(self.base_url):
                reply.url = url
                return reply

    def submit(self, page: requests.Response, **fields: str) -> str:
        """Submit the page's form; follow on until our service's URL, which is returned."""
        form = BeautifulSoup(page.text, "html.parser").find("form")
        data = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
        data.update(fields)
        action = urljoin(page.url, form.get("action") or page.url)
        reply = self.http.post(action, data=data, allow_redirects=False, timeout=10)
        while reply.status_code in (302, 303):
            url = urljoin(action, reply.headers["Location"])
            if url.startswith(self.base_url):
                return url
            reply = self.http.get(url, allow_redirects=False, timeout=10)
            action = url
        raise AssertionError(f"the provider did not send us back: {reply.status_code}")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM), standing for the trust's own CA."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
