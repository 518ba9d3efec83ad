"""Security properties of fetching and of what the library writes.

- credentials (``storage_options`` headers, client auth, s3 key/secret, ``user:password@`` in
  URLs) never appear in log records, error messages, the progress bar, the prepared
  manifest or Parquet metadata and cards;
- a file without a checksum is never fetched over plain http from a non-loopback host, and
  the refusal comes before any connection or name lookup;
- YAML registries go through safe loading; nothing downloaded goes through pickle's own
  loader, ``allow_pickle=True``, an unsafe YAML loader or ``extractall``.
"""

from __future__ import annotations

import ast
import json
import logging
import shutil
import socket
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import (DownloadError, FormatError, InsecureTransportError, MnistFamilyError, OfflineError,
                                RegistryError)
from mnistfamily.fetch import UnverifiedFileWarning, transfer
from mnistfamily.fetch.locations import is_loopback_url, plain_http_refusal
from mnistfamily.redaction import redact, secret_values
from mnistfamily.registry import FileSpec, Registry
from mnistfamily.testing import Fault, serve_directory, write_miniatures

IMAGES = "t10k-images-idx3-ubyte.gz"
CANONICAL = f"mnist/{IMAGES}"
PACKAGE = Path(mf.__file__).resolve().parent

# Distinct, greppable secrets; each must never show up anywhere the library writes or says.
BEARER = "Bearer tok-BEARER-7f3a9c"
CLIENT_PASSWORD = "pw-CLIENTAUTH-51d2"
URL_PASSWORD = "pw-URLSECRET-a8e4"
URL_USER = "user-URLNAME-93bb"
S3_KEY = "AKIA-S3KEY-0c6f11"
S3_SECRET = "s3secret-e91d77/abc+def"
pytestmark = pytest.mark.filterwarnings(  # users still pass aiohttp.BasicAuth; aiohttp 3.14 deprecates it
    "ignore:BasicAuth is deprecated:DeprecationWarning", "ignore:The 'auth' parameter is deprecated:DeprecationWarning")

SECRETS = [BEARER, "tok-BEARER-7f3a9c", CLIENT_PASSWORD, URL_PASSWORD, URL_USER, S3_KEY, S3_SECRET]


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTFAMILY_RETRIES", "2")
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["mnist"])


def _with_credentials(url: str) -> str:
    return url.replace("http://", f"http://{URL_USER}:{URL_PASSWORD}@", 1)


def _options(kind: str):
    import aiohttp

    return {
        "headers": {"headers": {"Authorization": BEARER}},
        "client_kwargs": {"client_kwargs": {"auth": aiohttp.BasicAuth("someone", CLIENT_PASSWORD),
                                            "headers": {"X-Api-Key": BEARER}}},
        "none": None,
    }[kind]


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}:\n{text[:3000]}"


def _all_records(caplog) -> str:
    return "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


# ---------------------------------------------------------------------------
# Redaction, unit level
# ---------------------------------------------------------------------------


def test_redact_removes_url_credentials_signed_queries_and_given_secrets():
    text = (f"http://{URL_USER}:{URL_PASSWORD}@example.org/a.gz failed; s3://k:s@b/x; "
            "https://h/x.gz?X-Amz-Signature=abcd&X-Amz-Credential=AKIA%2F1&v=2; ftp://tok@h/x; sent " + BEARER)
    out = redact(text, secret_values({"headers": {"Authorization": BEARER}}))
    assert_no_secret(out, "a redacted text")
    for gone in ("abcd", "AKIA%2F1", "k:s@", "tok@"):
        assert gone not in out
    assert "http://***@example.org/a.gz" in out and "&v=2" in out  # what helps is kept


def test_secret_values_finds_credentials_in_every_usual_place():
    import aiohttp

    found = secret_values({"key": S3_KEY, "secret": S3_SECRET, "anon": False, "endpoint_url": "http://x",
                           "client_kwargs": {"auth": aiohttp.BasicAuth(URL_USER, URL_PASSWORD),
                                             "headers": {"Authorization": BEARER, "User-Agent": "ua/1.0"}},
                           "config_kwargs": {"session_token": "tok-SESSION-1"}})
    for secret in (S3_KEY, S3_SECRET, URL_USER, URL_PASSWORD, BEARER, "tok-BEARER-7f3a9c", "tok-SESSION-1"):
        assert secret in found
    assert "http://x" not in found and "ua/1.0" not in found


# ---------------------------------------------------------------------------
# Logs, errors and the progress bar, over every failure mode
# ---------------------------------------------------------------------------

FAILURES = {
    "ok": None,
    "404": Fault.status(404),
    "503": Fault.status(503),
    "reset": Fault.reset(at=100),
    "corrupt": Fault.corrupt(offset=100),
    "html": Fault.html_page(),
    "redirect loop": Fault.redirect(CANONICAL),
}


@pytest.mark.parametrize("options", ["headers", "client_kwargs", "none"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_credentials_never_reach_logs_errors_or_the_progress_bar(served, cache, caplog, capfd, monkeypatch,
                                                                 failure, options):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_PROGRESS", "1")
    # the credentials travel in the URL (a mirror with user:password@) and in storage_options
    monkeypatch.setenv("MNISTFAMILY_MIRROR", _with_credentials(server.url))
    if FAILURES[failure] is not None:
        server.add_fault(CANONICAL, FAILURES[failure])
    caplog.set_level(logging.DEBUG)  # every logger: ours, fsspec's, aiohttp's
    message = ""
    try:
        mf.load("mnist", "test", registry=mini.registry, data_dir=cache, storage_options=_options(options))
    except MnistFamilyError as exc:
        message = f"{exc}\n{exc!r}"
    assert (message == "") == (failure == "ok")
    assert_no_secret(message, "the error message")
    assert_no_secret(_all_records(caplog), "the log records")
    out, err = capfd.readouterr()
    assert_no_secret(out + err, "stdout/stderr (progress bar)")
    if failure != "ok":
        assert f"http://***@127.0.0.1:{server.port}/mnist/{IMAGES}" in message  # still says where
    else:
        assert IMAGES in err  # the progress bar was drawn
        manifests = list(cache.rglob("manifest.json"))
        assert manifests
        for manifest in manifests:
            assert_no_secret(manifest.read_text(), str(manifest))


def test_credentials_in_the_url_still_authenticate(served, cache, monkeypatch):
    """Redaction is only about what is shown: the server still receives the credentials."""
    import base64
    import http.server

    server, mini = served
    seen: list[str] = []
    original = http.server.BaseHTTPRequestHandler.parse_request

    def record(self):
        ok = original(self)
        seen.append(self.headers.get("Authorization", ""))
        return ok

    monkeypatch.setattr(http.server.BaseHTTPRequestHandler, "parse_request", record)
    monkeypatch.setenv("MNISTFAMILY_MIRROR", _with_credentials(server.url))
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    expected = "Basic " + base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
    assert seen and all(header == expected for header in seen)


def test_fsspec_never_sees_the_credentials_of_a_url(served):
    """fsspec logs URLs at DEBUG level and puts them in its errors: it gets them without user info."""
    from mnistfamily.config import FetchSettings
    from mnistfamily.fetch.locations import Location

    server, mini = served
    with transfer._open(Location(_with_credentials(server.url_for(CANONICAL)), "mirror"), FetchSettings()) as f:
        assert f.url == server.url_for(CANONICAL)
        assert f.read() == mini.files["mnist"][IMAGES].read_bytes()
    with transfer.open_random_access(Location(_with_credentials(server.url_for(CANONICAL)), "mirror"),
                                     FetchSettings()) as f:
        assert f.url == server.url_for(CANONICAL)


def test_a_network_source_with_credentials_is_redacted_in_the_offline_error(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"would come from http://\*\*\*@127") as caught:
        mf.load("mnist", "test", registry=mini.registry, data_dir=cache,
                source=_with_credentials(server.url) + "/mnist")
    assert_no_secret(str(caught.value), "the offline error")
    assert server.requests == []


def test_a_source_url_with_credentials_is_redacted_when_the_file_is_missing(served, cache, caplog):
    server, mini = served
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DownloadError, match=r"was not found in http://\*\*\*@127\.0\.0\.1") as caught:
        mf.load("mnist", "test", registry=mini.registry, data_dir=cache,
                source=_with_credentials(server.url) + "/nowhere", storage_options=_options("headers"))
    assert "http://***@127.0.0.1" in str(caught.value)
    assert_no_secret(str(caught.value), "the error message")
    assert_no_secret(_all_records(caplog), "the log records")


def test_s3_key_and_secret_never_reach_logs_or_errors(served, cache, caplog):
    pytest.importorskip("s3fs")
    server, mini = served
    caplog.set_level(logging.DEBUG)  # botocore dumps each request, Authorization header included
    options = {"key": S3_KEY, "secret": S3_SECRET, "client_kwargs": {"endpoint_url": server.url},
               "skip_instance_cache": True, "config_kwargs": {"retries": {"max_attempts": 1}}}
    # the loopback server is no S3: every request fails, each in botocore's own way
    with pytest.raises(DownloadError, match="was not found in s3://bucket/data") as caught:
        mf.load("mnist", "test", registry=mini.registry, data_dir=cache, source="s3://bucket/data",
                storage_options=options)
    assert server.count(f"bucket/data/{IMAGES}", method=None) >= 1  # s3fs did talk to it
    assert_no_secret(f"{caught.value}\n{caught.value!r}", "the error message")
    assert_no_secret(_all_records(caplog), "the log records")


# ---------------------------------------------------------------------------
# Parquet metadata and the dataset card
# ---------------------------------------------------------------------------


def test_parquet_metadata_and_card_hold_no_credentials(served, tmp_path, cache, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    from mnistfamily.outputs import export

    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", _with_credentials(server.url))
    result = export("mnist", tmp_path / "lake", splits=["test"], registry=mini.registry, data_dir=cache,
                    source_storage_options=_options("headers"))
    assert_no_secret(str(result), "the export result")
    ds = mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    ds.to_parquet(tmp_path / "lake2")
    files = [p for p in (tmp_path / "lake").rglob("*") if p.is_file()]
    files += [p for p in (tmp_path / "lake2").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.name.endswith(".json") for p in files)
    for path in files:
        if path.suffix == ".parquet":
            metadata = pq.read_schema(path).metadata or {}
            text = "\n".join(v.decode("utf-8", "replace") for v in metadata.values())
            assert_no_secret(text, f"the schema metadata of {path}")
        else:
            assert_no_secret(path.read_bytes().decode("utf-8", "replace"), str(path))


def test_exporting_from_a_source_url_with_credentials_records_none(served, tmp_path, cache):
    pq = pytest.importorskip("pyarrow.parquet")
    from mnistfamily.outputs import export

    server, mini = served
    source = _with_credentials(server.url) + "/mnist"
    result = export("mnist", tmp_path / "lake", splits=["test"], registry=mini.registry, data_dir=cache,
                    source=source)
    for path in Path(result.path.removeprefix("file://")).rglob("*"):
        if path.suffix == ".parquet":
            text = json.dumps({k.decode(): v.decode("utf-8", "replace")
                               for k, v in (pq.read_schema(path).metadata or {}).items()})
            assert_no_secret(text, str(path))
        elif path.is_file():
            assert_no_secret(path.read_text(errors="replace"), str(path))


def test_exporting_to_s3_keeps_the_access_key_out_of_the_logs(served, caplog, monkeypatch):
    pytest.importorskip("s3fs")
    from mnistfamily.outputs import ExportDestinationError, export

    server, _ = served
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    options = {"key": S3_KEY, "secret": S3_SECRET, "client_kwargs": {"endpoint_url": server.url},
               "skip_instance_cache": True, "config_kwargs": {"retries": {"max_attempts": 1}}}
    caplog.set_level(logging.DEBUG)
    # the loopback server is no S3, so the export fails with the library's error (an OSError still);
    # its requests are logged all the same
    with pytest.raises(ExportDestinationError, match=r"s3://lake/x: the store refused .*Not Implemented.*"
                                                     r"Check the URL, the endpoint and the credentials") as caught:
        export("mnist/sample", "s3://lake/x", storage_options=options, rows_per_shard=2000)
    assert server.requests  # botocore did send (and log) requests
    assert isinstance(caught.value, OSError)
    assert_no_secret(f"{caught.value}", "the export error")
    assert_no_secret(_all_records(caplog), "the log records")


# ---------------------------------------------------------------------------
# Plain http only with a checksum
# ---------------------------------------------------------------------------


def _unverified(mini, base_url: str | None = None) -> Registry:
    spec = mini.registry.dataset("mnist")
    files = {n: replace(f, md5=None, sha256=None, payload_sha256=None) for n, f in spec.files.items()}
    changed = replace(spec, files=MappingProxyType(files))
    if base_url is not None:
        changed = replace(changed, base_url=base_url, mirrors=())
    return Registry({"mnist": changed})


@pytest.fixture
def connections(monkeypatch):
    """Every name lookup and connection attempted, recorded (and non-loopback ones still refused)."""
    attempts: list[object] = []
    guarded_lookup, guarded_connect = socket.getaddrinfo, socket.socket.connect  # conftest's guards

    def lookup(host, *args, **kwargs):
        attempts.append(host)
        return guarded_lookup(host, *args, **kwargs)

    def connect(self, address):
        attempts.append(address)
        return guarded_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def test_the_policy_decides_from_the_url_alone():
    unverified = FileSpec("x.gz", 100, None, None)
    verified = FileSpec("x.gz", 100, None, "0" * 64)
    assert plain_http_refusal("http://data.example.org/x.gz", unverified).startswith("refused: plain http")
    assert plain_http_refusal("ftp://data.example.org/x.gz", unverified).startswith("refused: plain ftp")
    assert plain_http_refusal("HTTP://data.example.org/x.gz", unverified) is not None
    for allowed in ("https://data.example.org/x.gz", "http://127.0.0.1:8/x.gz", "http://localhost/x.gz",
                    "http://[::1]:80/x.gz", "http://127.4.5.6/x.gz", "s3://bucket/x.gz", "/data/x.gz",
                    "file:///data/x.gz", "memory://x/x.gz"):
        assert plain_http_refusal(allowed, unverified) is None, allowed
    assert plain_http_refusal("http://data.example.org/x.gz", verified) is None  # the checksum decides
    for not_loopback in ("http://127.0.0.1.example.org/", "http://localhost@evil.example/", "http://10.0.0.1/",
                         "http://[::ffff:8.8.8.8]/", "http:///x", "http://0.0.0.0/"):
        assert not is_loopback_url(not_loopback), not_loopback
    assert "https" in plain_http_refusal("http://h/x.gz", unverified) and "sha256" in plain_http_refusal(
        "http://h/x.gz", unverified) and "source=" in plain_http_refusal("http://h/x.gz", unverified)


def test_an_unverified_file_over_plain_http_is_refused_before_any_connection(served, cache, connections):
    _, mini = served
    registry = _unverified(mini, base_url="http://data.example.org/mnist/")
    with pytest.raises(InsecureTransportError, match="plain http is only used for files that have one") as caught:
        mf.load("mnist", "test", registry=registry, data_dir=cache, allow_unverified=True)
    message = str(caught.value)
    assert f"http://data.example.org/mnist/{IMAGES}: refused: plain http" in message
    assert "https://" in message and "source=" in message and "sha256" in message
    assert isinstance(caught.value, DownloadError) and isinstance(caught.value, OSError)
    assert connections == []  # not a lookup, not a connection
    assert not (cache / "downloads" / "mnist" / IMAGES).exists()


def test_a_refused_plain_http_mirror_is_listed_and_the_next_location_used(served, cache, connections,
                                                                          monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", "http://mirror.example.org/data")
    with pytest.warns(UnverifiedFileWarning):
        ds = mf.load("mnist", "test", registry=_unverified(mini), data_dir=cache, allow_unverified=True)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])  # from loopback http
    assert all(a in ("127.0.0.1",) or (isinstance(a, tuple) and a[0] == "127.0.0.1") for a in connections)
    server.add_fault(CANONICAL, Fault.status(404))
    shutil.rmtree(cache)
    with pytest.raises(DownloadError, match="refused: plain http without a checksum") as caught:
        mf.load("mnist", "test", registry=_unverified(mini), data_dir=cache, allow_unverified=True)
    assert not isinstance(caught.value, InsecureTransportError)  # not only refusals: a plain DownloadError
    assert f"http://mirror.example.org/data/mnist/{IMAGES}: refused: plain http" in str(caught.value)
    assert f"{server.url}/{CANONICAL}: not found" in str(caught.value)


def test_a_redirect_from_an_allowed_url_to_plain_http_is_refused(served, cache, monkeypatch):
    from mnistfamily.fetch import locations

    server, mini = served
    real = locations.is_loopback_url
    # stand-in for "a host elsewhere": the server's /elsewhere/ paths count as non-loopback
    monkeypatch.setattr(locations, "is_loopback_url", lambda url: real(url) and "/elsewhere/" not in url)
    (Path(server.root) / "elsewhere" / "mnist").mkdir(parents=True)
    shutil.copy(mini.files["mnist"][IMAGES], Path(server.root) / "elsewhere" / "mnist" / IMAGES)
    server.add_fault(CANONICAL, Fault.redirect(f"elsewhere/mnist/{IMAGES}"))
    with pytest.raises(DownloadError, match=rf"{CANONICAL}: redirected to {server.url}/elsewhere/mnist/{IMAGES}: "
                                            "refused: plain http"):
        mf.load("mnist", "test", registry=_unverified(mini), data_dir=cache, allow_unverified=True)
    assert not (cache / "downloads" / "mnist" / IMAGES).exists()
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)  # with checksums: followed


def test_loopback_plain_http_stays_allowed_for_unverified_files(served, cache):
    server, mini = served
    with pytest.warns(UnverifiedFileWarning):
        mf.load("mnist", "test", registry=_unverified(mini), data_dir=cache, allow_unverified=True)
    assert server.count(CANONICAL) == 1


# ---------------------------------------------------------------------------
# YAML through safe loading
# ---------------------------------------------------------------------------


def test_a_yaml_registry_with_a_python_tag_is_rejected_and_runs_nothing(tmp_path, monkeypatch):
    from mnistfamily.registry import get_registry

    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    evil = tmp_path / "evil.yaml"
    evil.write_text(textwrap.dedent(f"""\
        version: 1
        datasets:
          evil/digits: !!python/object/apply:os.system ["touch {marker}"]
        """))
    with pytest.raises(RegistryError, match="evil.yaml"):
        get_registry(evil)
    monkeypatch.setenv("MNISTFAMILY_REGISTRY", str(evil))
    with pytest.raises(RegistryError, match="expected a mapping, found a list"):
        mf.datasets()
    other = tmp_path / "evil2.yaml"
    other.write_text(f"!!python/object/apply:os.system [\"touch {marker}\"]\n")
    with pytest.raises(RegistryError, match="expected a mapping, found a list"):
        get_registry(other)
    assert not marker.exists()


@pytest.mark.parametrize("document, where", [
    ("datasets:\n  evil/digits: !!python/object:os.system\n    title: x\n", "evil/digits"),
    ("datasets:\n  evil/digits:\n    title: x\n    classes: !!python/tuple [zero, one]\n", "classes"),
    ("datasets: !!python/object/new:dict\n  evil/digits: {title: x}\n", "datasets"),
])
def test_a_tag_on_a_mapping_or_list_is_refused_not_dropped(tmp_path, document, where):
    from mnistfamily.registry import get_registry

    path = tmp_path / "tagged.yaml"
    path.write_text("version: 1\n" + document)
    with pytest.raises(RegistryError, match=rf"{where} \(line \d+\): the tag 'tag:yaml.org,2002:"
                                            rf"python/(object|tuple|object/new)[^']*' is not allowed"):
        get_registry(path)


# ---------------------------------------------------------------------------
# No unsafe deserialisation or extraction anywhere in the package
# ---------------------------------------------------------------------------

_PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "torch"}
_UNSAFE_YAML_LOADERS = {"Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader"}
_SAFE_UNPICKLER_MODULE = "formats/safe_pickle.py"


def unsafe_calls(source: str) -> list[str]:
    """Calls that would deserialise or extract untrusted data unsafely, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        keywords = {k.arg: k.value for k in node.keywords}
        if owner in _PICKLE_MODULES and name in ("load", "loads", "Unpickler"):
            found.append(f"{node.lineno}: {owner}.{name}(")
        if name in ("extractall", "extract") and owner not in ("re", "np", "numpy"):
            found.append(f"{node.lineno}: .{name}(")
        allow = keywords.get("allow_pickle")
        if isinstance(allow, ast.Constant) and allow.value is True or (allow is not None and not isinstance(
                allow, ast.Constant)):
            found.append(f"{node.lineno}: allow_pickle={ast.unparse(allow)}")
        if owner == "yaml" and name in ("load", "load_all", "full_load", "full_load_all", "unsafe_load",
                                        "unsafe_load_all"):
            loader = keywords.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
            text = ast.unparse(loader) if loader is not None else ""
            if name.startswith(("full", "unsafe")) or "Safe" not in text:
                found.append(f"{node.lineno}: yaml.{name}({text})")
        loader = keywords.get("Loader")
        if loader is not None and ast.unparse(loader).split(".")[-1] in _UNSAFE_YAML_LOADERS:
            found.append(f"{node.lineno}: Loader={ast.unparse(loader)}")
    return found


def test_the_scanner_finds_each_unsafe_call():
    bad = textwrap.dedent("""\
        import pickle, yaml, numpy as np, zipfile, tarfile
        pickle.load(f); pickle.loads(b); pickle.Unpickler(f).load()
        np.load(p, allow_pickle=True); np.load(p, allow_pickle=flag)
        yaml.load(text); yaml.load(text, Loader=yaml.Loader); yaml.unsafe_load(text); yaml.full_load(text)
        yaml.compose(text, Loader=yaml.FullLoader)
        zipfile.ZipFile(p).extractall(d); tarfile.open(p).extract(m, d)
        """)
    found = "\n".join(unsafe_calls(bad))
    for expected in ("pickle.load(", "pickle.loads(", "pickle.Unpickler(", "allow_pickle=True", "allow_pickle=flag",
                     "yaml.load()", "yaml.load(yaml.Loader)", "yaml.unsafe_load", "yaml.full_load",
                     "Loader=yaml.FullLoader", ".extractall(", ".extract("):
        assert expected in found, expected
    good = textwrap.dedent("""\
        yaml.safe_load(t); yaml.load(t, Loader=yaml.CSafeLoader); yaml.compose(t, Loader=_Loader)
        np.load(p, allow_pickle=False); pickle.dumps(x); re.compile("x")
        """)
    assert unsafe_calls(good) == []


def test_no_unsafe_deserialisation_or_extraction_in_the_package():
    problems = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = unsafe_calls(path.read_text(encoding="utf-8"))
        if found:
            problems[str(path.relative_to(PACKAGE))] = found
    assert problems == {}


def test_the_one_unpickler_is_restricted():
    """Reading MNIST-1D's pickle goes through a pickle.Unpickler subclass that vets every global."""
    import pickle

    from mnistfamily.formats import safe_pickle

    assert issubclass(safe_pickle.ArrayUnpickler, pickle.Unpickler)
    assert "find_class" in vars(safe_pickle.ArrayUnpickler)
    source = (PACKAGE / _SAFE_UNPICKLER_MODULE).read_text(encoding="utf-8")
    assert unsafe_calls(source) == []

    class Boom:
        def __reduce__(self):
            return (eval, ("1",))

    with pytest.raises(FormatError, match=r"the pickle asks for the global builtins\.eval, which is refused") as caught:
        safe_pickle.read_array_pickle(pickle.dumps(Boom()), where="evil.pkl") \
            if "where" in safe_pickle.read_array_pickle.__code__.co_varnames else \
            safe_pickle.ArrayUnpickler(__import__("io").BytesIO(pickle.dumps(Boom())), where="evil.pkl").load()
    assert "eval" in str(caught.value)
