"""What the tests share: tiny MNIST IDX files in torchvision's layout, quick overrides, `python train.py`."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

from vae_lightning.harness.command_line import check_command_line
from vae_lightning.paper.module import VAEModule


TRAIN_IMAGES = 256
TEST_IMAGES = 64
VAL_IMAGES = 64


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file: magic (0, 0, 0x08, ndim), big-endian sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str = "MNIST", train: int = TRAIN_IMAGES, test: int = TEST_IMAGES) -> Path:
    """Fake digits (a bright square whose place depends on the label) under root/<folder>/raw."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, size=count)
        images = rng.integers(0, 40, size=(count, 28, 28))
        for image, label in zip(images, labels):
            row, column = 2 + 2 * label, 4 + label
            image[row : row + 8, column : column + 8] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


INJECTED = "VAE_LIGHTNING_ALLOWED_TARGETS"  # set to INJECTED_TARGETS to let runs build them
INJECTED_TARGETS = "injected.Fault,injected.Probe,injected.Slow,injected.SlowToFail"


def injected(name: str, cls: str, **arguments: object) -> list[str]:
    """Overrides that add the callback tests/injected.<cls> to a run, as callbacks.<name>."""
    return [f"+callbacks.{name}={{_target_:injected.{cls}}}"] + [
        f"+callbacks.{name}.{key}={value}" for key, value in arguments.items()
    ]


def tiny_overrides(root: Path) -> list[str]:
    """Overrides that make a run take a second: tiny data, small model, one quiet epoch."""
    return [
        f"data.root={root}",
        "data.download=false",
        f"data.val_size={VAL_IMAGES}",
        "data.batch_size=32",
        "model.hidden_dims=[32]",
        "model.latent_dim=4",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "++trainer.enable_progress_bar=false",
        "++trainer.enable_model_summary=false",
    ]


PROJECT = Path(__file__).resolve().parent.parent
# The environment of a `python train.py` that may build the tests' injected callbacks. The project's
# folder too: a Slurm job's process starts outside it, and would import the package installed, which in
# another clone of the project is not the code under test.
INJECTED_ENVIRONMENT = {**os.environ, INJECTED: INJECTED_TARGETS,
                        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(PROJECT)])}


def run_train(arguments: list[str], cwd: Path = PROJECT, timeout: int = 600,
              env: dict[str, str] | None = None, fresh: bool = False) -> subprocess.CompletedProcess:
    """`python train.py ARGUMENTS` as a user runs it, in `cwd`; the tests' callbacks may be injected.
    `env` adds to the environment (a Slurm cluster's SLURM_CONF, say), which only a fresh interpreter
    reads as it imports; without it, and unless `fresh`, the run is forked by the ForkServer."""
    if env or fresh:
        return subprocess.run([sys.executable, str(PROJECT / "train.py"), *arguments], cwd=cwd, capture_output=True,
                              text=True, env={**INJECTED_ENVIRONMENT, **(env or {})}, timeout=timeout)
    with tempfile.TemporaryDirectory() as folder:
        stdout, stderr = Path(folder) / "stdout", Path(folder) / "stderr"
        process = ForkedTrain(arguments, cwd, stdout, stderr)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise subprocess.TimeoutExpired(process.args, timeout, stdout.read_text(), stderr.read_text()) from None
        return subprocess.CompletedProcess(process.args, process.returncode, stdout.read_text(), stderr.read_text())


def start_train(arguments: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen | ForkedTrain:
    """`python train.py ARGUMENTS` started in the background, its output in files in `cwd`; forked by
    the ForkServer unless `env` adds to the environment."""
    if not env:
        return ForkedTrain(arguments, cwd, cwd / "stdout.txt", cwd / "stderr.txt")
    return subprocess.Popen([sys.executable, str(PROJECT / "train.py"), *arguments], cwd=cwd, text=True,
                            stdout=open(cwd / "stdout.txt", "w"), stderr=open(cwd / "stderr.txt", "w"),
                            env={**INJECTED_ENVIRONMENT, **env}, preexec_fn=with_ctrl_c)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refusal(main: Callable[[], None], argv: list[str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture) -> list[str]:
    """What `main`, run as the command `argv`, prints on stderr as it refuses it; asserts exit status 2."""
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()


def command_line_refusal(arguments: list[str], folder: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture) -> str:
    """The one line the command-line check prints on stderr as it refuses `arguments` run in `folder`;
    asserts exit status 2 and that nothing was written there."""
    monkeypatch.chdir(folder)
    with pytest.raises(SystemExit) as exit_:
        check_command_line(arguments)
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert list(folder.iterdir()) == []
    return line


TINY_MODULE = {"model": {"_target_": "vae_lightning.paper.model.VAE", "hidden_dims": [8], "latent_dim": 2},
               "loss": {"_target_": "vae_lightning.paper.loss.VAELoss"},
               "optim": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}}


def checkpoint_with(path: Path, weights: Callable[[dict], dict] = dict, **changes: object) -> Path:
    """path/best.ckpt: a tiny real module's checkpoint, its hyper_parameters changed by `changes`
    (`model__latent_dim=3` sets model.latent_dim; `eval_seed="abc"` a top-level one) and its state
    dict passed through `weights`."""
    module = VAEModule(**TINY_MODULE)
    hparams = plain_hyper_parameters(module)
    for key, value in changes.items():
        group, _, name = key.partition("__")
        if name:
            hparams[group][name] = value
        else:
            hparams[group] = value
    return save_checkpoint(path, weights(module.state_dict()), hparams)


def checkpoint_of(path: Path, **configs: dict) -> Path:
    """path/best.ckpt of the tiny module with `configs` (`model=`, `loss=`) in place of its own: a
    class of one's own, whose weights changing the hyper_parameters alone would not give."""
    module = VAEModule(**{**TINY_MODULE, **configs})
    return save_checkpoint(path, module.state_dict(), plain_hyper_parameters(module))


def plain_hyper_parameters(module: VAEModule) -> dict:
    """The module's hyper_parameters as a checkpoint holds them: plain dicts, loadable with weights_only=True."""
    return {key: dict(value) if isinstance(value, dict) else value for key, value in module.hparams.items()}


def save_checkpoint(path: Path, weights: dict, hparams: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": weights, "pytorch-lightning_version": "2.6.0", "hyper_parameters": hparams},
               path / "best.ckpt")
    return path / "best.ckpt"


class ForkServer:
    """tests/forkserver.py, started once per test process: it forks `python train.py` with torch and
    Lightning imported already, where a fresh interpreter spends some 9 s importing them."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("forkserver.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=INJECTED_ENVIRONMENT)
        self.exit_codes: dict[int, int] = {}
        self.pending = b""

    def start(self, arguments: list[str], cwd: Path, stdout: Path, stderr: Path) -> int:
        """Fork `python train.py ARGUMENTS` in `cwd`; returns its pid."""
        request = {"arguments": arguments, "cwd": str(cwd), "stdout": str(stdout), "stderr": str(stderr)}
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()
        while True:
            for event in self.events(timeout=None):
                if "exit_code" not in event:
                    return event["pid"]

    def events(self, timeout: float | None) -> list[dict]:
        """The events the server wrote within `timeout` seconds (None: until one comes); exit codes recorded."""
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return []
        chunk = os.read(self.process.stdout.fileno(), 65536)
        if not chunk:
            raise RuntimeError(f"tests/forkserver.py ended with code {self.process.wait()}")
        lines, _, self.pending = (self.pending + chunk).rpartition(b"\n")
        events = [json.loads(line) for line in lines.splitlines() if line]
        for event in events:
            if "exit_code" in event:
                self.exit_codes[event["pid"]] = event["exit_code"]
        return events


class ForkedTrain:
    """A `python train.py` forked by the ForkServer, with the methods of subprocess.Popen the tests use."""

    server: ForkServer | None = None

    def __init__(self, arguments: list[str], cwd: Path, stdout: Path, stderr: Path) -> None:
        if ForkedTrain.server is None:
            ForkedTrain.server = ForkServer()
        self.args = [sys.executable, str(PROJECT / "train.py"), *arguments]
        self.pid = ForkedTrain.server.start(arguments, cwd, stdout, stderr)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        ForkedTrain.server.events(timeout=0)
        self.returncode = ForkedTrain.server.exit_codes.get(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            ForkedTrain.server.events(timeout=left)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def projector_files(folder: Path) -> tuple[list[str], list[list[float]], Image.Image]:
    """The labels, the vectors and the sprite that TensorBoard's projector config names."""
    config = text_format.Parse((folder / "projector_config.pbtxt").read_text(), ProjectorConfig())
    (embedding,) = config.embeddings
    labels = (folder / embedding.metadata_path).read_text().splitlines()
    vectors = [[float(value) for value in line.split("\t")]
               for line in (folder / embedding.tensor_path).read_text().splitlines()]
    assert list(embedding.sprite.single_image_dim) == [28, 28]
    return labels, vectors, Image.open(folder / embedding.sprite.image_path)


def importing_torch(pid: int) -> bool:
    """True once torch's library is mapped into the process: a `python train.py` that goes on importing
    torch, then Lightning, for seconds (a signal's traceback ran through whichever import it cut short)."""
    return "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()


def with_ctrl_c() -> None:
    """For subprocess's preexec_fn: SIGINT as a terminal gives it, where the tests run in the background
    (CI's nohup), whose children inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted_as_it_started(signum: int) -> str:
    """The line a command says when a signal ends it as it starts (vae_lightning/startup.py)."""
    return f"error: interrupted by {signal.Signals(signum).name} as the command started; it ran nothing"


def process_state(pid: int | str) -> str:
    """The process's state as /proc gives it: T when stopped (Ctrl-Z), R or S when it runs; Z or X once ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # ended, and reaped
        return "X"
    return stat[stat.rindex(")") + 2]


def states_once(pids: Iterable[int | str], stopped: bool, timeout: float = 60) -> dict[int | str, str]:
    """Each process's state, once every one is stopped (or, with `stopped=False`, none is), or after `timeout` s."""
    deadline = time.monotonic() + timeout
    found = {pid: process_state(pid) for pid in pids}
    while any((state == "T") != stopped for state in found.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
        found = {pid: process_state(pid) for pid in found}
    return found
