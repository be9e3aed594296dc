"""A bundle's trust profile: fitted on its own films, it accepts films like them and still flags phantoms and odd
inputs; it is saved with the bundle, can be overridden, and says which limits judged a film."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cxrmodel.cli.main import main
from cxrmodel.imaging import check_distribution, decode_image, to_model_grid
from cxrmodel.imaging.trust_fit import fit_trust_profile
from cxrmodel.imaging.trust_profile import (
    MIN_TRAINING_FILMS,
    PROFILE_FILE,
    TrustProfileError,
    mapping_from_padding,
    read_trust_profile,
)
from cxrmodel.modeling import BundleError, load_bundle
from cxrmodel.modeling.bundle import write_image_baseline
from tests.nih_films import nih_film_paths

GRID = 64


def _grid(path) -> np.ndarray:
    return to_model_grid(decode_image(path.read_bytes()).pixels, GRID)[0]


@pytest.fixture(scope="module")
def real_films():
    """The NIH films on a 64 px grid by split, and the mean normal training film (the bundle's reference)."""
    paths = nih_film_paths()
    films = {split: [path for path in paths if path.parent.parent.name == split]
             for split in ("train", "valid", "test")}
    grids = {split: np.stack([_grid(path) for path in split_paths]) for split, split_paths in films.items()}
    normal = np.array(["0_normal" in str(path) for path in films["train"]])
    return grids, grids["train"][normal].mean(axis=0)


@pytest.fixture(scope="module")
def real_film_profile(real_films):
    grids, reference = real_films
    return fit_trust_profile(grids["train"], grids["valid"], reference, "NIH train films (64 px)")


def _phantoms(count: int, seed: int) -> list[np.ndarray]:
    from cxrmodel.data.synthetic.studies import render_study, sample_study_spec

    films = []
    for number in range(1, count + 1):
        image = render_study(sample_study_spec(number, seed), seed).phantom.image
        films.append(np.asarray(image, np.float32) / (255.0 if image.dtype == np.uint8 else 1.0))
    return films


def _judged(film: np.ndarray, reference, profile):
    grid, mapping = to_model_grid(film, GRID)
    return check_distribution(grid, mapping, reference, profile=profile)


def test_a_profile_fitted_on_real_films_accepts_held_out_real_films(real_films, real_film_profile):
    grids, reference = real_films
    checks = [check_distribution(grid, mapping_from_padding(grid), reference, profile=real_film_profile)
              for grid in grids["test"]]
    accepted = sum(check.in_distribution is True for check in checks)
    assert accepted >= 0.95 * len(checks)
    # With the demo's built-in limits (set on phantoms) the same real films are nearly all flagged.
    built_in = [check_distribution(grid, mapping_from_padding(grid), reference) for grid in grids["test"]]
    assert sum(check.in_distribution is True for check in built_in) < accepted / 2
    assert real_film_profile.counts["validation"] == 200
    assert real_film_profile.counts["validation_accepted"] >= 190


def test_the_same_profile_flags_phantoms_and_every_constructed_case(real_films, real_film_profile):
    _, reference = real_films
    phantoms = [_judged(film, reference, real_film_profile) for film in _phantoms(100, 4242)]
    assert sum(check.in_distribution is False for check in phantoms) >= 99
    assert all("film_statistics" in check.failed for check in phantoms if check.in_distribution is False)
    normal = _phantoms(1, 11)[0]
    cases = {"black": np.zeros_like(normal), "inverted": 1.0 - normal, "upside down": normal[::-1],
             "turned": np.rot90(normal).copy(), "washed out": 0.6 + 0.3 * normal, "darkened": normal**3,
             "noise": np.random.default_rng(0).random(normal.shape).astype(np.float32)}
    for name, film in cases.items():
        assert _judged(film, reference, real_film_profile).in_distribution is False, name


def test_the_page_and_exports_say_which_profile_judged_the_film(real_films, real_film_profile):
    grids, reference = real_films
    document = check_distribution(grids["test"][0], None, reference, profile=real_film_profile).to_dict()
    assert document["profile"]["source"] == "bundle"
    assert "this bundle's own trust profile, fitted on 600 training films" in document["profile"]["description"]
    assert "film_statistics_distance" in document["features"]
    built_in = check_distribution(grids["test"][0], None, reference).to_dict()
    assert built_in["profile"]["source"] == "built-in"
    assert "film_statistics_distance" not in built_in["features"]


def test_too_few_training_films_fit_no_profile(real_films):
    grids, reference = real_films
    with pytest.raises(TrustProfileError, match=f"needs at least {MIN_TRAINING_FILMS}"):
        fit_trust_profile(grids["train"][: MIN_TRAINING_FILMS - 1], grids["valid"], reference, "too few")


def test_a_saved_profile_reads_back_and_judges_alike(real_films, real_film_profile, tmp_path):
    grids, reference = real_films
    real_film_profile.save(tmp_path)
    again = read_trust_profile(tmp_path)
    assert again.to_dict() == real_film_profile.to_dict()
    for grid in grids["test"][:20]:
        first = check_distribution(grid, None, reference, profile=real_film_profile)
        second = check_distribution(grid, None, reference, profile=again)
        assert first.features == pytest.approx(second.features, rel=1e-5)
        assert first.in_distribution == second.in_distribution


@pytest.fixture()
def bundle_with_reference(tiny_image_bundle_directory, real_films, tmp_path):
    """A copy of the tiny image-only bundle (64 px grid is not needed: the profile follows the bundle's grid) with
    the NIH mean normal film as its reference."""
    directory = tmp_path / "bundle"
    shutil.copytree(tiny_image_bundle_directory, directory)
    size = load_bundle(directory, load_model=False).config.image_size
    grids, _ = real_films
    small = np.stack([to_model_grid(grid, size)[0] for grid in grids["train"][:300]])
    write_image_baseline(directory, small.mean(axis=0))
    return directory


def _openi_folder(root, paths):
    """A minimal OpenI XML folder: one study per film, alternating normal / abnormal MeSH terms."""
    (root / "ecgen-radiology").mkdir(parents=True)
    (root / "NLMCXR_png").mkdir()
    for number, path in enumerate(paths, 1):
        image_id = f"CXR{number}_IM-{number:04d}-1001"
        mesh = "normal" if number % 2 else "Cardiomegaly/mild"
        (root / "ecgen-radiology" / f"{number}.xml").write_text(
            f'<?xml version="1.0" encoding="utf-8"?><eCitation><uId id="CXR{number}"/><MedlineCitation><Article>'
            f'<Abstract><AbstractText Label="FINDINGS">The heart size is stable.</AbstractText>'
            f'<AbstractText Label="IMPRESSION">Report {number}.</AbstractText></Abstract></Article>'
            f'</MedlineCitation><MeSH><major>{mesh}</major></MeSH><parentImage id="{image_id}"/></eCitation>',
            encoding="utf-8")
        (root / "NLMCXR_png" / f"{image_id}.png").symlink_to(path.resolve())
    return root


def test_the_trust_profile_command_fits_into_the_bundle_or_into_an_override(bundle_with_reference, tmp_path,
                                                                          capsys):
    studies = _openi_folder(tmp_path / "studies", nih_film_paths()[:120])
    assert main(["trust-profile", "--model", str(bundle_with_reference), "--studies", str(studies)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["fitted"] is True and summary["counts"]["training"] == 108
    assert summary["counts"]["validation"] == 12
    bundle = load_bundle(bundle_with_reference, load_model=False)
    assert bundle.trust_profile is not None
    assert bundle.card["trust_profile"]["fitted"] is True

    override = tmp_path / "override"
    assert main(["trust-profile", "--model", str(bundle_with_reference), "--studies", str(studies), "--output",
                 str(override), "--seed", "5"]) == 0
    assert (override / PROFILE_FILE).is_file()
    judged_by = load_bundle(bundle_with_reference, load_model=False, trust_profile=override)
    prepared = judged_by.prepare(decode_image(nih_film_paths()[500].read_bytes()).pixels, "")
    profile = judged_by.check_distribution(prepared).to_dict()["profile"]
    assert profile["source"] == "override" and str(override) in profile["description"]

    # explain --trust-profile: the document names the override as the judge of the film.
    capsys.readouterr()
    assert main(["explain", "--model", str(bundle_with_reference), "--image", str(nih_film_paths()[500]), "--json",
                 "--report-text", "The heart is normal in size.",
                 "--trust-profile", str(override)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["distribution"]["profile"]["source"] == "override"


def test_a_bundle_whose_profile_could_not_be_fitted_judges_no_film(bundle_with_reference, tmp_path, capsys):
    studies = _openi_folder(tmp_path / "few", nih_film_paths()[:20])
    assert main(["trust-profile", "--model", str(bundle_with_reference), "--studies", str(studies)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fitted"] is False
    bundle = load_bundle(bundle_with_reference, load_model=False)
    assert bundle.trust_profile is None and "could not be fitted" in bundle.unprofiled_reason
    check = bundle.check_distribution(bundle.prepare(decode_image(nih_film_paths()[0].read_bytes()).pixels, ""))
    assert check.in_distribution is None and check.kind == "no_profile"
    assert "could not be fitted" in check.reasons[0]


@pytest.mark.parametrize("damage", ["json", "arrays"])
def test_a_broken_profile_is_a_bundle_error_that_names_the_file(bundle_with_reference, real_film_profile, damage):
    real_film_profile.save(bundle_with_reference)
    target = bundle_with_reference / ("trust_profile.json" if damage == "json" else "trust_profile.npz")
    target.write_text("{not json")
    with pytest.raises(BundleError, match=target.name):
        load_bundle(bundle_with_reference, load_model=False)


def test_a_missing_override_says_how_to_write_one(tiny_image_bundle_directory, tmp_path):
    with pytest.raises(BundleError, match="no trust_profile.json there"):
        load_bundle(tiny_image_bundle_directory, load_model=False, trust_profile=tmp_path)


def test_the_demo_bundle_keeps_its_built_in_limits():
    bundle = load_bundle("models/demo", load_model=False)
    assert bundle.trust_profile is None and bundle.unprofiled_reason is None
    film = nih_film_paths()[0]
    check = bundle.check_distribution(bundle.prepare(decode_image(film.read_bytes()).pixels, ""))
    assert check.in_distribution is False and check.to_dict()["profile"]["source"] == "built-in"
