import matgl
import pytest
import torch

from matterloop.surrogates.config import NetworkConfig
from matterloop.surrogates.network import (
    NetworkError,
    build_network,
    embed,
    num_outputs,
    save_network,
)


def test_embedding_shape_and_batch_independence(network, labeled):
    structures = labeled.structures[:12]
    whole = embed(network, structures, batch_size=64)
    assert whole.shape == (12, 16) and whole.dtype == torch.double
    torch.testing.assert_close(embed(network, structures, batch_size=5), whole)
    single = embed(network, structures[3:4], batch_size=1)
    torch.testing.assert_close(single, whole[3:4])


def test_saved_in_matgl_format_and_warm_starts(network, labeled, tmp_path):
    save_network(network, tmp_path / "net", metadata={"targets": ["a", "b"]})
    assert {p.name for p in (tmp_path / "net").iterdir()} >= {"model.json", "model.pt", "state.pt"}
    assert isinstance(matgl.load_model(tmp_path / "net"), type(network))
    warm = build_network(NetworkConfig(pretrained=tmp_path / "net"), num_targets=2)
    structures = labeled.structures[:6]
    torch.testing.assert_close(embed(warm, structures), embed(network, structures))


def test_warm_start_with_wrong_outputs_is_refused(network, tmp_path):
    save_network(network, tmp_path / "net")
    with pytest.raises(NetworkError, match="2 outputs but 3 targets"):
        build_network(NetworkConfig(pretrained=tmp_path / "net"), num_targets=3)


@pytest.mark.parametrize("architecture", ["tensornet", "m3gnet"])
def test_new_networks_have_one_output_per_target(architecture):
    config = NetworkConfig(architecture=architecture, units=8, nblocks=1)
    assert num_outputs(build_network(config, num_targets=3)) == 3
