"""Bad inputs through the real ``matterloop`` command line.

Every case runs ``matterloop`` in a subprocess on one input of the corpus in
``tests/data/bad_inputs/`` (configs, CIF, extxyz and label files, campaign directories) or on a
binary file made here (corrupt, empty and malicious checkpoints, binary garbage). Each must end
with exit code 2 and a message on stderr naming the problem, with no traceback and within
:data:`TIMEOUT_S`; a malicious checkpoint must be refused without its payload running.

The CLI's start-up (importing torch, pymatgen, ...) dominates each case, so cases run two at a
time.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matgl
import pytest
import torch

from matterloop.core.checkpoint import CheckpointError, load_checkpoint, load_tensors
from matterloop.generator.conditioning.model_io import AdaptedGenerator, load_generator
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.surrogates.pretrained import default_surrogate

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "data" / "bad_inputs"
MATTERLOOP = Path(sys.executable).parent / "matterloop"
USER_ERROR = 2
TIMEOUT_S = 300
"""A case that runs longer hangs (on a free machine each takes a few seconds)."""
PARALLEL_CASES = 2
TRACEBACK = "Traceback (most recent call last)"


class RunsCode:
    """Pickles to a call of ``os.system`` that creates ``marker``: unpickling runs it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def marker_path(inputs: Path, name: str) -> Path:
    return inputs / f"executed-{name}"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus plus the binary inputs, made here (nothing committed is modified)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    generated = root / "generated"
    generated.mkdir()
    noise = random.Random(0)
    base = default_checkpoint().read_bytes()
    (generated / "truncated.pt").write_bytes(base[: len(base) // 2])
    (generated / "random.pt").write_bytes(noise.randbytes(4096))
    (generated / "empty.pt").write_bytes(b"")
    (generated / "garbage.cif").write_bytes(noise.randbytes(2048))
    payload = {"kind": "generator-model", "info": RunsCode(marker_path(root, "checkpoint"))}
    torch.save(payload, generated / "malicious.pt")
    with (generated / "malicious_raw.pt").open("wb") as handle:
        pickle.dump({"kind": "generator-model", "info": RunsCode(marker_path(root, "raw"))}, handle)
    write_malicious_surrogates(root, generated)
    return root


def write_malicious_surrogates(root: Path, generated: Path) -> None:
    """Copies of the shipped surrogate, each with one part that would run code if loaded
    unsafely: a pickled object in ``head.pt``, a foreign class in ``network/model.json``, and a
    constructor argument in ``network/model.pt`` that MatGL's own loader builds by calling a
    named class (``subprocess.Popen``)."""
    shipped = default_surrogate()
    head = shutil.copytree(shipped, generated / "surrogate_head")
    torch.save({"embeddings": RunsCode(marker_path(root, "head"))}, head / "head.pt")
    foreign = shutil.copytree(shipped, generated / "surrogate_class")
    description = (foreign / "network" / "model.json").read_text()
    (foreign / "network" / "model.json").write_text(
        description.replace('"matgl.models._tensornet"', '"subprocess"').replace(
            '"TensorNet"', '"Popen"'
        )
    )
    arguments = shutil.copytree(shipped, generated / "surrogate_arguments")
    write_object_argument(arguments / "network", marker_path(root, "arguments"))


def write_object_argument(network: Path, marker: Path) -> None:
    """Make ``units`` in ``network/model.pt`` an object MatGL's loader would build:
    ``subprocess.Popen(args=["touch", marker])``."""
    kwargs = torch.load(network / "model.pt", weights_only=True)
    kwargs["units"] = {
        "@module": "subprocess",
        "@class": "Popen",
        "init_args": {"args": ["touch", str(marker)]},
    }
    torch.save(kwargs, network / "model.pt")


@dataclass(frozen=True)
class Case:
    """A command line (``{in}``: the inputs folder) and a substring of its error message."""

    id: str
    command: str
    message: str
    marker: str | None = None
    """Name of the marker file the input's payload would create (it must not exist)."""


SAMPLE = "generator sample --num 1 --out {in}/samples --checkpoint"
ORACLE = "oracle run --out {in}/results.jsonl"
FINETUNE = "generator finetune --property hhi --out {in}/adapted.pt --labels"
CASES = [
    # campaign configs
    Case("campaign-wrong-type", "run {in}/configs/campaign_wrong_type.yaml",
         "acquisition.q: Input should be a valid integer"),
    Case("campaign-unknown-element", "run {in}/configs/campaign_unknown_element.yaml",
         "generator.elements: Value error, unknown element 'Xx'"),
    Case("campaign-unknown-key", "run {in}/configs/campaign_unknown_key.yaml",
         "objectivs: Extra inputs are not permitted"),
    Case("campaign-min-above-max", "run {in}/configs/campaign_min_above_max.yaml",
         "constraint on e_above_hull: min 0.2 > max 0.1"),
    Case("campaign-uncomputed-constraint", "run {in}/configs/campaign_uncomputed_constraint.yaml",
         "constraint: band_gap [eV] is not provided by oracle 'chgnet' with these settings"),
    Case("campaign-goal-behind-reference", "run {in}/configs/campaign_goal_behind_reference.yaml",
         "magnetic_density: goal 0.05 must lie above the reference 0.1"),
    Case("campaign-bad-direction", "run {in}/configs/campaign_bad_direction.yaml",
         "objectives.0.direction: Input should be 'maximize' or 'minimize'"),
    Case("campaign-q-zero", "run {in}/configs/campaign_q_zero.yaml",
         "acquisition.q: Input should be greater than 0"),
    Case("campaign-no-objectives", "run {in}/configs/campaign_no_objectives.yaml",
         "objectives: Tuple should have at least 1 item"),
    Case("campaign-invalid-yaml", "run {in}/configs/campaign_invalid_yaml.yaml",
         "campaign_invalid_yaml.yaml: not valid YAML"),
    Case("campaign-list", "run {in}/configs/campaign_list.yaml",
         "campaign_list.yaml: expected a mapping at the top level"),
    Case("campaign-unknown-oracle", "run {in}/configs/campaign_unknown_oracle.yaml",
         "oracle.name: unknown oracle 'vasp9000'"),
    Case("campaign-unknown-quantity", "run {in}/configs/campaign_unknown_quantity.yaml",
         "objective: unknown quantity 'coolness'"),
    Case("campaign-missing-function", "run {in}/configs/campaign_missing_function.yaml",
         "cannot import module 'no_such_package.quantities'"),
    Case("campaign-only-computed", "run {in}/configs/campaign_only_computed.yaml",
         "none comes from the oracle"),
    Case("campaign-empty", "run {in}/configs/campaign_empty.yaml", "name: Field required"),
    Case("campaign-missing-file", "run {in}/configs/absent.yaml", "absent.yaml: no such config"),
    # generator training, surrogate and oracle configs
    Case("generator-wrong-type", "generator train --config {in}/configs/generator_wrong_type.yaml",
         "optim.lr: Input should be a valid number"),
    Case("generator-unknown-key",
         "generator train --no-mlflow --config {in}/configs/generator_unknown_key.yaml",
         "model.network.hidden_dims: unknown setting"),
    Case("generator-negative-batch",
         "generator train --config {in}/configs/generator_negative_batch.yaml",
         "optim.batch_size: Input should be greater than 0"),
    Case("surrogate-wrong-type", "surrogate train --config {in}/configs/surrogate_wrong_type.yaml",
         "training.epochs: Input should be a valid integer"),
    Case("surrogate-unknown-architecture",
         "surrogate train --config {in}/configs/surrogate_unknown_architecture.yaml",
         "network.architecture: Input should be 'tensornet' or 'm3gnet'"),
    Case("surrogate-no-targets", "surrogate train --config {in}/configs/surrogate_no_targets.yaml",
         "data.targets: Tuple should have at least 1 item"),
    Case("oracle-settings-wrong-type",
         ORACLE + " {in}/cifs/overlapping_atoms.cif --settings "
         "{in}/configs/oracle_settings_wrong_type.yaml",
         "relax.fmax: Input should be a valid number"),
    Case("oracle-unknown-name", ORACLE + " {in}/cifs/overlapping_atoms.cif --oracle vasp9000",
         "unknown oracle 'vasp9000'"),
    # structure files
    Case("cif-partial-occupancy", ORACLE + " {in}/cifs/partial_occupancy.cif",
         "1 partial occupancy (partial_occupancy)"),
    Case("cif-overlapping-atoms", ORACLE + " {in}/cifs/overlapping_atoms.cif",
         "1 overlapping atoms (< 0.5 Å) (overlapping_atoms)"),
    Case("cif-unknown-element", ORACLE + " {in}/cifs/unknown_element.cif",
         "1 unsupported element Xx (unknown_element)"),
    Case("cif-truncated", ORACLE + " {in}/cifs/truncated.cif", "1 unparsable CIF"),
    Case("cif-empty", ORACLE + " {in}/cifs/empty.cif", "1 empty CIF (empty)"),
    Case("cif-binary-garbage", ORACLE + " {in}/generated/garbage.cif",
         "1 unparsable CIF (ValueError) (garbage)"),
    Case("extxyz-garbage", ORACLE + " {in}/extxyz/garbage.extxyz",
         "garbage.extxyz: not a readable extxyz file"),
    Case("evaluate-truncated-cif", "generator evaluate {in}/cifs/truncated.cif",
         "truncated.cif: not a readable CIF file"),
    Case("evaluate-unknown-element", "generator evaluate {in}/cifs/unknown_element.cif",
         "unknown_element.cif: unknown element Xx"),
    Case("evaluate-binary-garbage", "generator evaluate {in}/generated/garbage.cif",
         "garbage.cif: not a readable CIF file"),
    Case("evaluate-extxyz-atom-count", "generator evaluate {in}/extxyz/atom_count_mismatch.extxyz",
         "Frame has 2 atoms, expected 5"),
    Case("evaluate-missing", "generator evaluate {in}/absent", "absent: no such file or folder"),
    Case("labels-unusable-cif", FINETUNE + " {in}/cifs/truncated.cif",
         "truncated.cif: no usable structures; skipped 1 rows"),
    Case("labels-no-cif-column", FINETUNE + " {in}/labels/no_cif_column.csv",
         "no_cif_column.csv: no 'cif' column"),
    Case("labels-not-oracle-results", FINETUNE + " {in}/labels/garbled.jsonl",
         "garbled.jsonl:1: not a line of an oracle results file"),
    # checkpoints
    Case("sample-unknown-element", "generator sample --num 1 --out {in}/samples --elements Li-Xx-O",
         "--elements: unknown element 'Xx' in chemical system 'Li-Xx-O'"),
    Case("checkpoint-truncated", SAMPLE + " {in}/generated/truncated.pt",
         "truncated.pt: not a readable checkpoint (the file is truncated or corrupt)"),
    Case("checkpoint-random-bytes", SAMPLE + " {in}/generated/random.pt",
         "random.pt: not a readable checkpoint"),
    Case("checkpoint-empty", SAMPLE + " {in}/generated/empty.pt",
         "empty.pt: not a readable checkpoint (empty file)"),
    Case("checkpoint-malicious", SAMPLE + " {in}/generated/malicious.pt",
         "it holds a pickled Python object (posix.system) that would run code", "checkpoint"),
    Case("checkpoint-malicious-raw-pickle", SAMPLE + " {in}/generated/malicious_raw.pt",
         "malicious_raw.pt: not a readable checkpoint", "raw"),
    Case("surrogate-folder-as-generator", SAMPLE + " " + str(default_surrogate()),
         "a folder, not a checkpoint file"),
    Case("surrogate-head-as-generator", SAMPLE + " " + str(default_surrogate() / "head.pt"),
         "head.pt: not a matterloop checkpoint"),
    Case("generator-as-surrogate", f"surrogate evaluate --no-mlflow {default_checkpoint()}",
         "mp20_base.pt: not a surrogate checkpoint"),
    Case("surrogate-malicious-head", "surrogate evaluate --no-mlflow {in}/generated/surrogate_head",
         "head.pt: not a readable checkpoint (it holds a pickled Python object", "head"),
    Case("surrogate-foreign-class",
         "surrogate evaluate --no-mlflow {in}/generated/surrogate_class",
         "model.json: a subprocess.Popen model; only MatGL's TensorNet, M3GNet are read"),
    Case("surrogate-object-argument",
         "surrogate evaluate --no-mlflow {in}/generated/surrogate_arguments",
         "model.pt: constructor arguments are not plain data", "arguments"),
    # campaign directories and data
    Case("status-corrupt-state", "status {in}/campaigns/corrupt_state",
         "corrupt_state/state.json: not a campaign state file"),
    Case("status-garbled-results", "status {in}/campaigns/garbled_results",
         "garbled_results/results.jsonl:2: not a JSON line"),
    Case("pareto-garbled-results", "pareto {in}/campaigns/garbled_results",
         "results.jsonl:2: not a JSON line"),
    Case("status-not-a-campaign", "status {in}/cifs", "cifs: not a campaign directory"),
    Case("ui-not-a-campaign", "ui {in}/cifs", "cifs: not a campaign directory"),
    Case("data-dir-missing", "data stats mp_20 --split test --data-dir {in}/absent",
         "no test split of mp_20 under"),
]  # fmt: skip


def run_matterloop(command: str, inputs: Path) -> subprocess.CompletedProcess | str:
    """The finished ``matterloop`` process, or why it did not finish."""
    args = [str(MATTERLOOP), *command.format(**{"in": inputs}).split()]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    try:
        return subprocess.run(
            args,
            cwd=inputs,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"matterloop {command} did not finish within {TIMEOUT_S} s"


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, inputs: Path):
    """The processes of the cases selected in this session, started :data:`PARALLEL_CASES` at a
    time as soon as the first case is checked."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and "case" in getattr(getattr(item, "callspec", None), "params", {})
    ]
    with ThreadPoolExecutor(PARALLEL_CASES) as pool:
        futures: dict[str, Future] = {
            case.id: pool.submit(run_matterloop, case.command, inputs) for case in selected
        }
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_a_clear_user_error(case: Case, outcomes, inputs: Path) -> None:
    outcome = outcomes[case.id].result()
    assert not isinstance(outcome, str), outcome
    output = outcome.stdout + outcome.stderr
    assert TRACEBACK not in output, output
    assert outcome.returncode == USER_ERROR, output
    message = " ".join(outcome.stderr.split())  # rich wraps long lines
    assert message.startswith("error: "), outcome.stderr
    assert " ".join(case.message.split()) in message, outcome.stderr
    if case.marker is not None:
        assert not marker_path(inputs, case.marker).exists(), "the payload ran"


def test_corpus_has_thirty_inputs_each_exercised() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    exercised = " ".join(case.command for case in CASES)
    assert len(files) >= 30
    unused = [
        p.relative_to(CORPUS)
        for p in files
        if p.parent.parent != CORPUS / "campaigns" and str(p.relative_to(CORPUS)) not in exercised
    ]
    assert not unused, f"corpus files no case uses: {unused}"


LOADERS = {
    "load_tensors": load_tensors,
    "read_any_checkpoint": lambda path: load_checkpoint(path, "generator-training"),
    "TrainedGenerator.load": TrainedGenerator.load,
    "AdaptedGenerator.load": AdaptedGenerator.load,
    "load_generator": load_generator,
}


@pytest.mark.parametrize("loader", LOADERS.values(), ids=LOADERS.keys())
def test_loaders_refuse_a_checkpoint_that_runs_code(loader, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    torch.save({"kind": "generator-model", "x": RunsCode(marker)}, tmp_path / "model.pt")
    with pytest.raises(
        CheckpointError, match=r"model.pt: .*pickled Python object \(posix.system\)"
    ):
        loader(tmp_path / "model.pt")
    assert not marker.exists()


def test_the_payloads_are_live(tmp_path: Path) -> None:
    """The malicious inputs above do run code when loaded unsafely: a plain unpickling runs the
    checkpoint's payload, and MatGL's ``load_model`` builds the object named in ``model.pt``."""
    marker = tmp_path / "executed-pickle"
    pickle.loads(pickle.dumps(RunsCode(marker)))
    assert marker.exists()

    network = shutil.copytree(default_surrogate() / "network", tmp_path / "network")
    marker = tmp_path / "executed-matgl"
    write_object_argument(network, marker)
    with pytest.raises(RuntimeError):
        matgl.load_model(network)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()
