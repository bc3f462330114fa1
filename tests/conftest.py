"""Shared fixtures: the real third-party data in ../shared/data, and markers.

Tests that read real data skip only when that folder is absent, and say so.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PRMKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data (ProcessBench, PRMBench, GSM8K, ...); skips the test if it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not found (set PRMKIT_SHARED_DATA or place shared/ beside the repo)")
    return SHARED_DATA


def _run_prmkit(*args, check: bool = True) -> subprocess.CompletedProcess:
    """Run the installed `prmkit` console script as a user would; fail loudly on a non-zero exit."""
    exe = str(Path(sys.executable).with_name("prmkit"))
    result = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"prmkit {' '.join(map(str, args))}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def prmkit_cli():
    """``prmkit_cli("data", "stats", path, check=True)`` runs the real console script."""
    return _run_prmkit


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)


# ----------------------------------------------------------------------------- tiny HF models
# No model can be downloaded here: tests build a byte-level BPE tokenizer and random models from
# configs. The tokenizer has Qwen's chat markers and <extra_0>, and "ки" as an added token.

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    f"Step {k}: {a} + {b} = {a + b}. So the total is {a * b} apples and {b} pears; the answer is {a - b}. "
    f"Janet has {a} eggs, she eats {b}, and sells the rest for ${k} each."
    for k, (a, b) in enumerate([(i * 7 % 97, i * 13 % 89) for i in range(300)])
]


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_CORPUS, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=special[1:])
    tok.add_tokens(["ки"])
    tok.chat_template = CHAT_TEMPLATE
    path = tmp_path_factory.mktemp("tiny_tokenizer")
    tok.save_pretrained(path)
    return tok


def tiny_config(model_type: str, vocab_size: int, **overrides):
    """A 2-layer, 64-wide config of any decoder architecture."""
    from transformers import AutoConfig

    kwargs = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, pad_token_id=0)
    kwargs.update(overrides)
    return AutoConfig.for_model(model_type, **kwargs)


@pytest.fixture(scope="session")
def tiny_config_factory():
    return tiny_config


# ----------------------------------------------------------------------------- a real OpenAI-compatible server

SERVE_READY_TIMEOUT_S = 45


def _serve_available() -> str:
    try:
        import transformers.cli.serving.server  # noqa: F401
        from transformers.utils.import_utils import is_serve_available
    except ImportError as e:
        return f"transformers serve cannot be imported ({e})"
    if not is_serve_available():
        return "transformers serve needs its extra: pip install 'transformers[serving]'"
    return ""


@pytest.fixture(scope="session")
def transformers_serve():
    """``with transformers_serve(model_dir, log_dir) as url:`` a real ``transformers serve`` on loopback."""
    return _transformers_serve


@contextlib.contextmanager
def _transformers_serve(model_dir, log_dir):
    """``transformers serve MODEL --host 127.0.0.1 --port PORT --device cpu`` (offline, one thread); yields the
    base URL (``.../v1``) once /health answers, and stops the server after. Skips if serve is not installed."""
    import httpx

    reason = _serve_available()
    if reason:
        pytest.skip(reason)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(log_dir) / "serve.log"
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
           "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    # one thread: a tiny model gains nothing from more, and spinning threads crawl on a busy machine
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_PROXY": "127.0.0.1",
           "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + SERVE_READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after {SERVE_READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------- a local Ray cluster
# One 2-CPU runtime for the whole session (start-up takes about 5 s), started as prmkit starts one:
# prmkit.cluster.ray_runtime, bound to 127.0.0.1. Jobs run inside it use it and leave it running.


def ray_sockets_off_loopback(pid: int | None = None) -> list[str]:
    """Every socket of process ``pid`` (default: this one) and its descendants (a Ray runtime's GCS, raylet,
    agents and workers) whose local or remote address is not loopback, as 'pid name addr'; empty when all
    are on 127.0.0.1."""
    import psutil

    from prmkit.cluster import is_loopback

    root = psutil.Process(pid)
    bad = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            conns, name = proc.net_connections(kind="inet"), proc.name()
        except psutil.Error:  # a worker that exited meanwhile
            continue
        for c in conns:
            for addr in (c.laddr, c.raddr):
                if addr and not is_loopback(addr.ip):
                    bad.append(f"{proc.pid} {name} {addr.ip}:{addr.port}")
    return bad


@pytest.fixture(scope="session")
def off_loopback():
    """``off_loopback(pid=None)``: the sockets of a process tree not on loopback (``ray_sockets_off_loopback``)."""
    return ray_sockets_off_loopback


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """The session's local Ray runtime (2 CPUs, 100 MiB object store); yields the ``ray`` module."""
    from prmkit.cluster import ray_runtime

    temp = Path("/tmp") / f"prmkit-ray-{os.getpid()}"  # Ray's socket paths must stay under 107 bytes
    with ray_runtime(num_cpus=2, object_store_memory=100 << 20, _temp_dir=str(temp)) as ray:
        assert ray_sockets_off_loopback() == []
        yield ray
