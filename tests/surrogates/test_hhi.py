import pytest
import torch
from pymatgen.analysis.hhi import HHIModel
from pymatgen.core import Composition, Lattice, Structure

from matterloop.data.computed import computed_columns
from matterloop.data.hhi import HHIError, hhi_production
from matterloop.surrogates.columns import column_model


@pytest.mark.parametrize("formula", ["Fe2O3", "NaCl", "GaAs", "LiCoO2", "Nd2Fe14B", "Si"])
def test_matches_pymatgen_hhi_model(formula):
    assert hhi_production(formula) == pytest.approx(HHIModel().get_hhi_production(formula))


def test_is_weight_fraction_average_of_production_hhi():
    table = HHIModel().symbol_hhip_hhir
    composition = Composition("NaCl")
    expected = sum(
        composition.get_wt_fraction(el) * table[el.symbol][0] for el in composition.elements
    )
    assert hhi_production(composition) == pytest.approx(expected)
    assert hhi_production("Co") == pytest.approx(table["Co"][0])


def test_structure_uses_its_composition():
    salt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert hhi_production(salt) == pytest.approx(hhi_production("NaCl"))


@pytest.mark.parametrize("formula", ["LiH", "H2O", "NH3"])
def test_hydrogen_raises(formula):
    assert HHIModel().get_hhi_production(formula) is None  # what the rule guards against
    with pytest.raises(HHIError, match="no HHI entry for H"):
        hhi_production(formula)


def test_column_names_undefined_structures():
    hydride = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    salt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert computed_columns([salt, salt], ["hhi_production"]).shape == (2, 1)
    with pytest.raises(HHIError, match="LiH"):
        computed_columns([salt, hydride], ["hhi_production"])


def test_deterministic_model_reads_last_feature_column():
    X = torch.rand(4, 3, 6, dtype=torch.double)
    posterior = column_model(-1).posterior(X)
    assert posterior.mean.shape == (4, 3, 1)
    torch.testing.assert_close(posterior.mean, X[..., -1:])
    assert torch.all(posterior.variance == 0)
