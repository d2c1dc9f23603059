import numpy as np
import pytest
import torch
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.optim import optimize_acqf_discrete
from pymatgen.core import Lattice, Structure

from matterloop.data.computed import computed_columns
from matterloop.data.hhi import HHIError
from matterloop.surrogates.config import HeadConfig
from matterloop.surrogates.surrogate import Surrogate, SurrogateError
from tests.surrogates.conftest import TARGETS, fitted_surrogate


def test_features_are_embedding_then_hhi(surrogate, candidates):
    X = surrogate.features(candidates.structures)
    assert X.shape == (len(candidates.structures), 17) and X.dtype == torch.double
    torch.testing.assert_close(
        X[:, -1:], computed_columns(candidates.structures, ["hhi_production"])
    )
    torch.testing.assert_close(X[:, :-1], surrogate.embed(candidates.structures))


def test_features_refuse_structures_without_hhi(surrogate):
    hydride = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(HHIError, match="LiH"):
        surrogate.features([hydride])


def test_posterior_shapes_and_variances(surrogate, candidates):
    X = surrogate.features(candidates.structures)
    n = len(X)
    assert surrogate.output_names == [*TARGETS, "hhi_production"]
    with torch.no_grad():
        posterior = surrogate.model.posterior(X)
        assert posterior.mean.shape == (n, 3)
        variance = posterior.variance
        assert torch.all(variance[:, :2] > 0)
        assert torch.all(variance[:, 2] == 0)
        torch.testing.assert_close(posterior.mean[:, 2], X[:, -1])
        batched = surrogate.model.posterior(X[:30].reshape(10, 3, -1))
        assert batched.mean.shape == (10, 3, 3)
        samples = batched.rsample(torch.Size([4]))
        assert samples.shape == (4, 10, 3, 3)


def test_predictions_track_labels(surrogate, labeled):
    """At labeled points the calibrated GP is close to the labels it was given."""
    mean, std = surrogate.predict(surrogate.features(labeled.structures))
    labels = torch.as_tensor(labeled.labels)
    known = ~labels.isnan()
    assert torch.all(std > 0)
    inside = ((mean - labels).abs() <= 3 * std)[known]
    assert inside.double().mean() > 0.9


def test_qlognehvi_picks_candidates(surrogate, labeled, candidates):
    X = surrogate.features(candidates.structures)
    baseline = surrogate.features(labeled.structures[:20])
    # minimize formation energy and HHI, maximize magnetic density
    objective = WeightedMCMultiOutputObjective(torch.tensor([-1.0, 1.0, -1.0], dtype=X.dtype))
    acquisition = qLogNoisyExpectedHypervolumeImprovement(
        surrogate.model,
        ref_point=[1.0, 0.0, -10_000.0],
        X_baseline=baseline,
        objective=objective,
        prune_baseline=True,
    )
    chosen, values = optimize_acqf_discrete(acquisition, q=3, choices=X)
    assert chosen.shape == (3, 17)
    rows = [int(torch.nonzero((X == row).all(dim=-1)).squeeze()) for row in chosen]
    assert len(set(rows)) == 3
    assert torch.isfinite(values).all()


def test_save_load_gives_identical_predictions(surrogate, candidates, tmp_path):
    surrogate.save(tmp_path / "surrogate")
    assert {p.name for p in (tmp_path / "surrogate" / "network").iterdir()} >= {
        "model.json",
        "model.pt",
        "state.pt",
    }
    loaded = Surrogate.load(tmp_path / "surrogate")
    X = surrogate.features(candidates.structures)
    torch.testing.assert_close(loaded.features(candidates.structures), X, rtol=0, atol=0)
    for a, b in zip(surrogate.predict(X), loaded.predict(X), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert loaded.scales == surrogate.scales


def test_refit_with_added_labels_moves_predictions_toward_them(network, labeled, candidates):
    surrogate = fitted_surrogate(network, labeled)
    X = surrogate.features(candidates.structures)
    labels = torch.as_tensor(candidates.labels)
    before, _ = surrogate.predict(X)
    surrogate.add(candidates.structures, candidates.label_dict())
    report = surrogate.refit()
    after, _ = surrogate.predict(X)
    assert report.seconds > 0
    assert report.num_labels[TARGETS[0]] == len(labeled.structures) + len(candidates.structures)
    assert not torch.allclose(before, after)

    def error(mean: torch.Tensor) -> np.ndarray:
        return np.nanmean((mean - labels).abs().numpy(), axis=0)

    assert np.all(error(after) < error(before))


def test_too_few_labels_and_unfitted_model_are_errors(network, labeled):
    surrogate = Surrogate(network, TARGETS)
    with pytest.raises(SurrogateError, match="refit"):
        surrogate.model  # noqa: B018
    surrogate.add(labeled.structures[:3], labeled.slice(0, 3).label_dict())
    with pytest.raises(SurrogateError, match="at least 4"):
        surrogate.refit()
    with pytest.raises(SurrogateError, match="missing"):
        surrogate.add(labeled.structures[:3], {TARGETS[0]: labeled.labels[:3, 0]})


def test_computed_columns_of_any_quantity_are_exact_outputs(network, labeled, candidates, tmp_path):
    """A surrogate over density and HHI: features end in both columns, the model's last two
    outputs are those columns, precomputed values are taken as given, the labeled features
    leave out a row whose HHI is undefined, and a checkpoint keeps the columns."""
    computed = ["density", "hhi_production"]
    surrogate = Surrogate(network, TARGETS, HeadConfig(fit_max_iter=50), computed)
    surrogate.add(labeled.structures, labeled.label_dict())
    hydride = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    surrogate.add([hydride], {t: [0.1] for t in TARGETS})
    surrogate.refit()
    assert surrogate.output_names == [*TARGETS, *computed]

    X = surrogate.features(candidates.structures)
    d = surrogate.embeddings.shape[-1]
    assert X.shape == (len(candidates.structures), d + 2)
    torch.testing.assert_close(X[:, d:], computed_columns(candidates.structures, computed))
    assert X[0, d] == pytest.approx(candidates.structures[0].density)
    with torch.no_grad():
        posterior = surrogate.model.posterior(X)
    torch.testing.assert_close(posterior.mean[:, 2:], X[:, d:])
    assert torch.all(posterior.variance[:, 2:] == 0) and torch.all(posterior.variance[:, :2] > 0)

    given = {"hhi_production": [5000.0] * len(candidates.structures)}
    assert torch.all(surrogate.features(candidates.structures, given)[:, -1] == 5000.0)
    with pytest.raises(SurrogateError, match="hhi_production for other than the 40"):
        surrogate.features(candidates.structures, {"hhi_production": [5000.0]})

    baseline = surrogate.labeled_features()
    assert baseline.shape == (len(labeled.structures), d + 2)  # the hydride's row is left out
    assert surrogate.labeled_features(start=10).shape == (len(labeled.structures) - 10, d + 2)
    with pytest.raises(HHIError, match="LiH"):
        surrogate.features([hydride])

    surrogate.save(tmp_path / "surrogate")
    loaded = Surrogate.load(tmp_path / "surrogate")
    assert loaded.output_names == surrogate.output_names
    torch.testing.assert_close(loaded.labeled_features(), baseline, rtol=0, atol=0)


def test_a_surrogate_without_computed_quantities_models_its_targets_alone(network, labeled):
    bare = Surrogate(network, TARGETS, HeadConfig(fit_max_iter=50), computed=())
    bare.add(labeled.structures, labeled.label_dict())
    bare.refit()
    X = bare.features(labeled.structures[:5])
    assert X.shape == (5, bare.embeddings.shape[-1])
    assert bare.output_names == list(TARGETS)
    with torch.no_grad():
        assert bare.model.posterior(X).mean.shape == (5, len(TARGETS))
