"""`python -m cxrmodel pipeline`: the whole transfer-learning method end to end on synthetic data.

Stages, each written under ``OUTPUT/`` and skipped on a rerun with the same recipe (``OUTPUT/stages.json`` records
what finished, with the parameters it ran with):

a. ``pretraining-data/`` — a synthetic pre-training set in the NIH ChestX-ray14 layout (14-label
   ``Data_Entry_2017.csv``, larger than the target set;
   :func:`cxrmodel.data.synthetic.chestxray14.write_chestxray14_dataset`, its own seed, so no target study is in it);
b. ``pretrained-encoder/`` — the image encoder pre-trained on it
   (:func:`cxrmodel.training.pretrain.pretrain_image_encoder`, resumable per epoch);
c. ``corpus/reports.txt`` and ``word-vectors.txt`` — word2vec (:func:`cxrmodel.training.embeddings.train_word2vec`) on a
   separate synthetic report corpus (reports only, drawn with a third seed: the target reports are never seen);
d. ``target/`` — an OpenI-layout synthetic target set (``ecgen-radiology/`` + ``NLMCXR_png/`` + masks and
   ``truth.json``; :func:`cxrmodel.data.synthetic.studies.write_openi_dataset`), about 3,000 studies like the paper's;
e. ``evaluation/`` — ``evaluate-models`` with the transferred encoders on stratified folds: ``table3.json`` and
   ``table3.png`` (Table 3 and Figure 5 analogues; finished folds kept in ``evaluation/work/``);
f. ``bundle/`` — a final ``train`` on the target set: a model bundle for ``python app.py --model OUTPUT/bundle
   --studies OUTPUT/target``.

``--quick`` (:data:`QUICK`) runs the same stages with tiny counts, a 32 px grid and one epoch per phase — the CI
check that every stage connects; the full recipe (:data:`FULL`) is the documented run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxrmodel.training.fit import TrainingSchedule

logger = logging.getLogger(__name__)

STAGES_FILE = "stages.json"
SUMMARY_FILE = "pipeline.json"
PRETRAINING_DATA = "pretraining-data"
PRETRAINED_ENCODER = "pretrained-encoder"
CORPUS_FILE = "corpus/reports.txt"
WORD_VECTORS = "word-vectors.txt"
TARGET = "target"
EVALUATION = "evaluation"
BUNDLE = "bundle"


@dataclass(frozen=True)
class PipelineRecipe:
    """Everything that determines a synthetic end-to-end run.

    Attributes:
        seed: Target-set seed; the pre-training set uses ``seed + 1`` and the report corpus ``seed + 2``.
        pretraining_images: Size of the ChestX-ray14-format pre-training set.
        target_studies: Size of the OpenI-format target set (the paper: about 3,000 IU X-ray studies).
        corpus_reports: Reports in the word2vec corpus.
        image_width, image_height: Rendered phantom size in pixels (both sets).
        image_size: Model grid side (pre-training and target).
        pretraining_epochs: Epochs of the 14-label pre-training.
        embedding_dimension: Word vector length (the paper: 300).
        word2vec_epochs: word2vec passes over the corpus.
        folds: Stratified folds of the evaluation (at least 3 for the Table 3 analogue).
        schedule: Epochs and learning rates of the target training.
        model_overrides: Further :class:`cxrmodel.modeling.builders.ModelConfig` fields of the target model.
        eager: Run Keras steps eagerly (:func:`cxrmodel.training.transfer.eager_execution`; the tiny ``--quick`` run).
    """

    seed: int = 2019
    pretraining_images: int = 5000
    target_studies: int = 3000
    corpus_reports: int = 10000
    image_width: int = 240
    image_height: int = 256
    image_size: int = 64
    pretraining_epochs: int = 5
    embedding_dimension: int = 100
    word2vec_epochs: int = 10
    folds: int = 3
    schedule: TrainingSchedule = TrainingSchedule(image_epochs=8, text_epochs=6, head_epochs=2, multimodal_epochs=3,
                                                  patience=3)
    model_overrides: dict = field(default_factory=dict)
    eager: bool = False

    def to_dict(self) -> dict:
        """Plain JSON."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


FULL = PipelineRecipe()
"""The documented full run (about 30 minutes on 2 idle CPU cores; BENCHMARKS.md)."""

QUICK = PipelineRecipe(
    pretraining_images=160,
    target_studies=96,
    corpus_reports=300,
    image_width=160,
    image_height=176,
    image_size=32,
    pretraining_epochs=1,
    embedding_dimension=16,
    word2vec_epochs=2,
    folds=3,
    schedule=TrainingSchedule(image_epochs=1, text_epochs=1, head_epochs=1, multimodal_epochs=1, batch_size=16,
                              patience=1),
    model_overrides={"text_filters": 8, "text_feature_units": 8, "fusion_units": 8, "max_tokens": 64},
    eager=True,
)
"""CI-sized: every stage runs and connects in well under 3 minutes; its numbers mean nothing."""


class _Stages:
    """``stages.json``: which stages finished, with which parameters, and how long they took."""

    def __init__(self, output: Path) -> None:
        self.path = output / STAGES_FILE
        self.records: dict = {}
        if self.path.is_file():
            try:
                self.records = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                self.records = {}

    def done(self, name: str, parameters: dict, *paths: Path) -> dict | None:
        record = self.records.get(name)
        if record and record.get("parameters") == parameters and all(path.exists() for path in paths):
            logger.info("stage %s already finished with the same recipe: reused", name)
            return record
        return None

    def finish(self, name: str, parameters: dict, seconds: float, result: dict) -> dict:
        self.records[name] = {"parameters": parameters, "seconds": round(seconds, 1), "result": result}
        temporary = self.path.with_name(f".{STAGES_FILE}.partial")
        temporary.write_text(json.dumps(self.records, indent=1, default=str) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
        logger.info("stage %s finished in %.0f s", name, seconds)
        return self.records[name]


def _fresh_folder(final: Path) -> Path:
    """An empty ``<final>.partial`` folder to write into before renaming it to ``final``."""
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _publish(partial: Path, final: Path) -> None:
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)


def synthetic_report_corpus(count: int, seed: int) -> list[str]:
    """``count`` synthetic IU-style reports (FINDINGS + IMPRESSION on one line), drawn as studies of ``seed`` are.

    Only the reports are written (no phantom), with the same per-study generators as
    :func:`cxrmodel.data.synthetic.studies.render_study`, so the corpus follows the target distribution without holding
    any target report.
    """
    from cxrmodel.data.openi import compose_report_text  # noqa: PLC0415 - report generator only for a corpus
    from cxrmodel.data.synthetic.reports.writer import write_report  # noqa: PLC0415 - same
    from cxrmodel.data.synthetic.studies import sample_study_spec  # noqa: PLC0415 - same

    reports = []
    for number in range(1, count + 1):
        spec = sample_study_spec(number, seed)
        report = write_report(spec.findings, np.random.default_rng([seed, number, 3]), understate=spec.understated,
                              portable=spec.portable)
        reports.append(" ".join(compose_report_text(report.findings, report.impression).split()))
    return reports


def run_pipeline(output: str | os.PathLike, recipe: PipelineRecipe = FULL, *, progress_bar: bool = False,
                 mode: str = "full") -> dict:
    """Run stages a-f (module docstring) under ``output``; returns the summary also written to ``pipeline.json``.

    Returns:
        ``recipe``, ``mode``, ``stages`` (seconds, reused, result per stage), ``table3`` (the evaluation's models
        and multimodal gain), ``bundle``, ``studies``, ``wall_seconds``, ``load_average`` (start and end).
    """
    from cxrmodel.data.synthetic.chestxray14 import (  # noqa: PLC0415 - the generator and the stages only when run
        write_chestxray14_dataset,
    )
    from cxrmodel.data.synthetic.studies import sample_study_spec, write_openi_dataset  # noqa: PLC0415 - same
    from cxrmodel.rendering.charts import write_evaluation_chart  # noqa: PLC0415 - same (matplotlib)
    from cxrmodel.training.embeddings import save_word_vectors, train_word2vec  # noqa: PLC0415 - same (gensim)
    from cxrmodel.training.pretrain import PretrainSettings, pretrain_image_encoder  # noqa: PLC0415 - same (Keras)
    from cxrmodel.training.target import (  # noqa: PLC0415 - same
        TargetSettings,
        evaluate_target_models,
        train_target_bundle,
    )
    from cxrmodel.training.transfer import TransferSources, eager_execution  # noqa: PLC0415 - same

    started = time.perf_counter()
    load_at_start = os.getloadavg()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    stages = _Stages(output)
    reused: dict[str, bool] = {}

    def stage(name: str, parameters: dict, paths: list[Path], action) -> dict:
        record = stages.done(name, parameters, *paths)
        reused[name] = record is not None
        if record is None:
            stage_started = time.perf_counter()
            result = action()
            record = stages.finish(name, parameters, time.perf_counter() - stage_started, result)
        return record

    # a. ChestX-ray14-format pre-training set.
    pretraining_data = output / PRETRAINING_DATA
    pretraining_seed = recipe.seed + 1

    def write_pretraining_data() -> dict:
        partial = _fresh_folder(pretraining_data)
        summary = write_chestxray14_dataset(partial, recipe.pretraining_images, pretraining_seed,
                                            width=recipe.image_width, height=recipe.image_height)
        _publish(partial, pretraining_data)
        return {**summary, "output": str(pretraining_data)}

    stage("pretraining_data", {"images": recipe.pretraining_images, "seed": pretraining_seed,
                               "width": recipe.image_width, "height": recipe.image_height},
          [pretraining_data / "Data_Entry_2017.csv"], write_pretraining_data)

    # b. Image encoder pre-training (14 sigmoid outputs); resumable on its own.
    encoder_folder = output / PRETRAINED_ENCODER
    pretrain_settings = PretrainSettings(backbone="compact", image_size=recipe.image_size,
                                         epochs=recipe.pretraining_epochs, seed=recipe.seed)

    def pretrain() -> dict:
        with eager_execution(recipe.eager):
            result = pretrain_image_encoder(pretraining_data, encoder_folder, pretrain_settings, verbose=progress_bar)
        return {key: result[key] for key in ("val_auc_mean", "n_train", "n_validation", "wall_seconds")}

    stage("pretraining", {"settings": dataclasses.asdict(pretrain_settings),
                          "data": stages.records["pretraining_data"]["parameters"]},
          [encoder_folder / "pretrain.json"], pretrain)

    # c. word2vec on a separate synthetic report corpus.
    corpus_path, vectors_path = output / CORPUS_FILE, output / WORD_VECTORS
    corpus_seed = recipe.seed + 2
    word2vec_parameters = {"reports": recipe.corpus_reports, "seed": corpus_seed,
                           "dimension": recipe.embedding_dimension, "epochs": recipe.word2vec_epochs}

    def word_vectors() -> dict:
        reports = synthetic_report_corpus(recipe.corpus_reports, corpus_seed)
        corpus_path.parent.mkdir(parents=True, exist_ok=True)
        corpus_path.write_text("\n".join(reports) + "\n", encoding="utf-8")
        vectors = train_word2vec(reports, dimension=recipe.embedding_dimension, epochs=recipe.word2vec_epochs,
                                 seed=recipe.seed, workers=1, min_count=2)
        save_word_vectors(vectors, vectors_path)
        return {"corpus": str(corpus_path), "reports": len(reports), "words": len(vectors),
                "dimension": vectors.dimension, "vectors": str(vectors_path)}

    stage("word_vectors", word2vec_parameters, [vectors_path], word_vectors)

    # d. OpenI-format synthetic target set.
    target = output / TARGET

    def write_target() -> dict:
        partial = _fresh_folder(target)
        specs = [sample_study_spec(number, recipe.seed) for number in range(1, recipe.target_studies + 1)]
        truth = write_openi_dataset(partial, specs, recipe.seed, recipe.image_width, recipe.image_height)
        _publish(partial, target)
        return {"studies": len(truth), "abnormal": sum(record["label"] for record in truth), "output": str(target)}

    stage("target_data", {"studies": recipe.target_studies, "seed": recipe.seed, "width": recipe.image_width,
                          "height": recipe.image_height}, [target / "truth.json"], write_target)

    sources = TransferSources(image_encoder=encoder_folder, word_vectors=vectors_path)
    settings = TargetSettings(seed=recipe.seed, schedule=recipe.schedule, model_overrides=dict(recipe.model_overrides),
                              eager=recipe.eager)

    # e. k-fold evaluation (Table 3, Figure 5); finished folds are reused by the evaluation itself.
    evaluation = output / EVALUATION
    table_path, chart_path = evaluation / "table3.json", evaluation / "table3.png"

    def evaluate() -> dict:
        document = evaluate_target_models(target, recipe.folds, settings, sources,
                                          work_directory=evaluation / "work", progress_bar=progress_bar)
        table_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        write_evaluation_chart(document, chart_path)
        return {"models": document["models"], "multimodal_gain_points": document["multimodal_gain_points"],
                "json": str(table_path), "chart": str(chart_path)}

    evaluation.mkdir(parents=True, exist_ok=True)
    evaluated = stage("evaluation", {"recipe": recipe.to_dict(), "sources": sources.fingerprint()},
                      [table_path, chart_path], evaluate)

    # f. The final bundle (resumable through its work folder).
    bundle = output / BUNDLE

    def train() -> dict:
        card = train_target_bundle(target, bundle, settings, sources, progress_bar=progress_bar,
                                   command=f"python -m cxrmodel pipeline --output {output}"
                                   + (" --quick" if mode == "quick" else "") + f" --seed {recipe.seed}")
        return {"metrics": card["metrics"], "bundle": str(bundle), "reused_sub_models": card["reused"]}

    trained = stage("bundle", {"recipe": recipe.to_dict(), "sources": sources.fingerprint()},
                    [bundle / "model.keras", bundle / "card.json"], train)

    summary = {
        "mode": mode,
        # A reader of the quick run's JSON must not take its chance-level toy metrics for results.
        "note": ("quick mode: toy sizes that check every stage connects; its metrics are not meaningful — the "
                 "full recipe (no --quick) is the documented run") if mode == "quick" else "full recipe",
        "recipe": recipe.to_dict(),
        "stages": {name: {"seconds": record["seconds"], "reused": reused[name], "result": record["result"]}
                   for name, record in stages.records.items() if name in reused},
        "table3": evaluated["result"],
        "bundle": str(bundle),
        "bundle_metrics": trained["result"]["metrics"],
        "studies": str(target),
        "dashboard": f"python app.py --model {bundle} --studies {target}",
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average": {"start": [round(value, 2) for value in load_at_start],
                         "end": [round(value, 2) for value in os.getloadavg()]},
        "cpu_count": os.cpu_count(),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
    }
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    logger.info("pipeline finished in %.0f s: %s", summary["wall_seconds"], summary["table3"]["multimodal_gain_points"])
    if mode == "quick":
        logger.warning("quick mode: toy sizes; the metrics above are not meaningful (run without --quick for results)")
    return summary
