"""The workspace graph's pieces that need no page: the upload store (ui/uploads.py) and the ``g``
values (ui/workspace.py parse_g). Hostile keys never reach the file system."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

import engine
from engine.core import budget
from engine.core.errors import BudgetError, EngineError
from ui.uploads import UploadStore
from ui.workspace import DEFAULT, Source, parse_g


@pytest.fixture()
def store(tmp_path):
    return UploadStore(tmp_path / "up", ttl_s=3600, max_files=3, max_bytes=10_000)


def test_an_upload_is_named_by_its_sha256_and_read_back(store):
    data = engine.to_onnx(engine.preset("mlp"))
    key = store.put(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert store.get(key) == data
    assert store.put(data) == key and store.keys() == [key]  # the same file is kept once
    assert oct(store.root.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "README.md",
        "A" * 64,  # upper case: not what put() writes
        "0" * 63,
        "0" * 65,
        "0" * 64 + "/..",
        "",
        None,
        12,
    ],
)
def test_a_malformed_key_is_refused_before_any_file_is_touched(store, key, monkeypatch):
    touched = []
    monkeypatch.setattr(UploadStore, "_path", lambda self, k: touched.append(k))
    with pytest.raises(EngineError, match="64 hex digits"):
        store.get(key)
    assert touched == []  # no file name was ever made from it


def test_an_unknown_expired_or_altered_upload_is_refused(store):
    with pytest.raises(EngineError, match="upload the file again"):
        store.get("0" * 64)
    key = store.put(b"model bytes")
    path = store.root / f"{key}.onnx"
    path.write_bytes(b"other bytes")  # the name no longer matches the content
    with pytest.raises(EngineError, match="upload the file again"):
        store.get(key)
    key = store.put(b"model bytes")
    old = time.time() - 7200
    os.utime(path, (old, old))  # older than the store's one-hour expiry
    with pytest.raises(EngineError, match="upload the file again"):
        store.get(key)


def test_the_store_stays_within_its_file_and_byte_caps(store):
    keys = []
    for k in range(6):
        keys.append(store.put(bytes([k]) * 1000))
        time.sleep(0.01)  # distinct modification times: oldest first
    assert store.keys() == keys[-3:]  # at most 3 files, the newest kept
    big = store.put(b"x" * 9_000)
    kept = store.keys()
    assert big in kept and sum((store.root / f"{k}.onnx").stat().st_size for k in kept) <= 10_000


def test_an_upload_over_the_budget_is_refused(store, monkeypatch):
    monkeypatch.setattr(budget, "MAX_ONNX_BYTES", 100)
    with pytest.raises(BudgetError, match="limit is"):
        store.put(b"x" * 101)
    assert store.keys() == []


def test_g_values_name_presets_zoo_models_uploads_and_programs(tmp_path, monkeypatch):
    assert parse_g(DEFAULT) == Source("preset", "mlp")
    assert parse_g("zoo:tiny_cnn") == Source("zoo", "tiny_cnn")
    program = "x = input([2])\ny = relu(x)\n"
    assert parse_g(program) == Source("program", program)
    assert parse_g(program).g == program and parse_g("preset:mlp").g == "preset:mlp"
    import ui.workspace as ws

    local = UploadStore(tmp_path)
    monkeypatch.setattr(ws, "STORE", local)
    key = local.put(engine.to_onnx(engine.preset("mlp")))
    assert parse_g(f"onnx:{key}") == Source("onnx", key)


@pytest.mark.parametrize(
    "value, match",
    [
        ("preset:nope", "unknown preset"),
        ("zoo:../../etc", "unknown zoo model"),
        ("onnx:../../etc/passwd", "64 hex digits"),
        ("onnx:" + "0" * 64, "upload the file again"),
        ("", "empty"),
        ("x" * (budget.MAX_PROGRAM_CHARS + 1), "limit is"),
    ],
)
def test_a_bad_g_is_an_engine_error_naming_the_problem(value, match):
    with pytest.raises(EngineError, match=match):
        parse_g(value)
